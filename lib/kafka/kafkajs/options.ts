/**
 * The kafkajs `Kafka` object every part of this adapter works through: brokers, TLS and SASL,
 * timeouts, and the library's log lines sent to ours.
 */
import { Kafka, type KafkaConfig, logLevel } from "kafkajs";
import type { KafkaSecurity } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { AdapterOptions } from "../adapter.ts";

/** kafkajs's `ssl` and `sasl` options for `security` (its mechanism names are lower case). */
function securityOptions(security: KafkaSecurity): KafkaConfig {
  const sasl = security.sasl;
  return {
    ...(security.tls ? { ssl: { ...security.tls, rejectUnauthorized: true } } : {}),
    ...(sasl
      ? {
        sasl: sasl.mechanism === "PLAIN"
          ? { mechanism: "plain", username: sasl.username, password: sasl.password }
          : sasl.mechanism === "SCRAM-SHA-256"
          ? { mechanism: "scram-sha-256", username: sasl.username, password: sasl.password }
          : { mechanism: "scram-sha-512", username: sasl.username, password: sasl.password },
      }
      : {}),
  } as KafkaConfig;
}

const KAFKAJS_LEVEL: Record<number, "debug" | "info" | "warn" | "error"> = {
  [logLevel.DEBUG]: "debug",
  [logLevel.INFO]: "info",
  [logLevel.WARN]: "warn",
  [logLevel.ERROR]: "warn", // kafkajs logs retriable broker errors as ERROR; our retries decide.
};

/**
 * The library's entry object for `options`.
 *
 * @param options Brokers, client id, TLS and SASL.
 * @param klog Receives the library's log lines (warnings and above).
 * @returns A `Kafka`; nothing connects until one of its clients is used.
 */
export function kafkaOf(options: AdapterOptions, klog: Logger): Kafka {
  return new Kafka({
    ...securityOptions(options.security ?? {}),
    clientId: options.clientId,
    brokers: [...options.brokers],
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    logLevel: logLevel.WARN,
    logCreator: () => ({ level, log: entry }) => {
      const { message, timestamp: _t, logger: _l, ...rest } = entry;
      klog[KAFKAJS_LEVEL[level] ?? "info"](message, rest);
    },
  });
}
