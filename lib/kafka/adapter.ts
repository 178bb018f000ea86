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
