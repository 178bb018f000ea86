/**
 * What every `@platformatic/kafka` client object of this adapter is created with: the client id,
 * the bootstrap brokers, and TLS and SASL when configured.
 */
import type { KafkaSecurity } from "../../config.ts";
import type { Logger } from "../../log.ts";

/** What {@linkcode createPlatformaticClient} needs. */
export interface PlatformaticClientOptions {
  brokers: readonly string[];
  clientId: string;
  log: Logger;
  /** Longest wait for Kafka at start-up (producer init, group join). @default 600000 */
  startupTimeoutMs?: number;
  /** TLS and SASL. @default {} (PLAINTEXT) */
  security?: KafkaSecurity;
}

/** The options every library client object is created with (TLS and SASL when configured). */
export type Base = {
  clientId: string;
  bootstrapBrokers: string[];
  tls?: NonNullable<KafkaSecurity["tls"]> & { rejectUnauthorized: boolean };
  sasl?: NonNullable<KafkaSecurity["sasl"]>;
};

/**
 * The library's client options for `security`: TLS that checks the brokers' certificates, and the
 * SASL login.
 */
export function securityOptions(security: KafkaSecurity): Pick<Base, "tls" | "sasl"> {
  return {
    ...(security.tls ? { tls: { ...security.tls, rejectUnauthorized: true } } : {}),
    ...(security.sasl ? { sasl: { ...security.sasl } } : {}),
  };
}
