/**
 * What each client adapter (`kafkajs/`, `platformatic/`) is made from and made of, declared once so
 * that the two stay alike: the options it is created with, and the part of the seam its admin
 * client answers.
 */
import type { KafkaSecurity } from "../config.ts";
import type { Logger } from "../log.ts";
import type { KafkaClient } from "./interfaces.ts";

/** What an adapter's `create…Client` needs. */
export interface AdapterOptions {
  brokers: readonly string[];
  clientId: string;
  log: Logger;
  /** Longest wait for Kafka at start-up (producer init, group join). @default 600000 */
  startupTimeoutMs?: number;
  /** TLS and SASL. @default {} (PLAINTEXT) */
  security?: KafkaSecurity;
  /**
   * How long a producer's send keeps retrying, in ms, before it fails: long enough to outlast a
   * crashed partition leader (the controller fences it after `broker.session.timeout.ms`, then a
   * new leader is elected and the metadata refreshed), so that a broker crash delays writes
   * rather than failing them. The gateway passes its acknowledgement wait. @default 5000
   */
  sendRetryMs?: number;
}

/** Pause between a producer's tries, in ms: a leader election takes a few of them. */
export const SEND_RETRY_DELAY_MS = 250;

/**
 * A producer's tries after the first, so that they span `sendRetryMs`.
 *
 * @param sendRetryMs How long to keep trying. @default 5000
 * @returns At least 5.
 *
 * @example
 * ```ts
 * import { sendRetries } from "./adapter.ts";
 * sendRetries(5000); // 20
 * ```
 */
export function sendRetries(sendRetryMs = 5000): number {
  return Math.max(5, Math.ceil(sendRetryMs / SEND_RETRY_DELAY_MS));
}

/** The parts of the seam that an adapter's admin client answers (its `admin.ts`). */
export type AdminPart = Pick<
  KafkaClient,
  | "ensureTopics"
  | "endOffsets"
  | "groupOffsets"
  | "offsetsAtTime"
  | "ping"
  | "createAcls"
  | "describeAcls"
  | "describeTopic"
  | "close"
>;
