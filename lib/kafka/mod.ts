/**
 * Despacho's Kafka plumbing, one seam for every client library: the interfaces
 * (`interfaces.ts`), records (`records.ts`), topics (`topics.ts`), group commit (`group_commit.ts`),
 * the latest value per key of a compacted topic (`compacted.ts`), the partition of a key
 * (`partition.ts`),
 * and one implementation per library, laid out alike (`kafkajs/`, `platformatic/`). `KAFKA_CLIENT`
 * chooses the library.
 *
 * @example
 * ```ts ignore
 * import { createKafkaClient } from "./lib/kafka/mod.ts";
 * const kafka = createKafkaClient(config, log);
 * await kafka.ensureTopics(orderTopics(config), { timeoutMs: config.STARTUP_TIMEOUT_MS });
 * ```
 */
import { type Config, kafkaSecurity, type KafkaSecurityConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { KafkaClient } from "./interfaces.ts";
import { createKafkajsClient } from "./kafkajs/mod.ts";
import { createPlatformaticClient } from "./platformatic/mod.ts";

export * from "./acls.ts";
export * from "./interfaces.ts";
export * from "./partition.ts";
export * from "./compacted.ts";
export * from "./error_codes.ts";
export * from "./provision.ts";
export * from "./records.ts";
export * from "./topics.ts";

/**
 * Creates the Kafka client `config.KAFKA_CLIENT` names.
 *
 * @param config Brokers, client id, library, and TLS and SASL (`KAFKA_SECURITY_PROTOCOL`…;
 * `PLAINTEXT` when absent).
 * @param log Receives the library's log lines under `kafka`.
 * @returns The client; nothing connects until it is used.
 */
export function createKafkaClient(
  config:
    & Pick<Config, "KAFKA_BROKERS" | "KAFKA_CLIENT_ID" | "KAFKA_CLIENT" | "STARTUP_TIMEOUT_MS">
    & Partial<KafkaSecurityConfig>
    & Partial<Pick<Config, "KAFKA_ACK_TIMEOUT_MS">>,
  log: Logger,
): KafkaClient {
  const options = {
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID,
    log,
    startupTimeoutMs: config.STARTUP_TIMEOUT_MS,
    security: kafkaSecurity(config),
    // A send outlasts a crashed leader for as long as the gateway waits for its acknowledgement.
    ...(config.KAFKA_ACK_TIMEOUT_MS === undefined
      ? {}
      : { sendRetryMs: config.KAFKA_ACK_TIMEOUT_MS }),
  };
  switch (config.KAFKA_CLIENT) {
    case "kafkajs":
      return createKafkajsClient(options);
    case "platformatic":
      return createPlatformaticClient(options);
  }
}
