/** The seam's idempotent producer on `@platformatic/kafka`. */
import { compatibilityPartitioner, Producer, stringSerializers } from "@platformatic/kafka";
import type { KafkaProducer } from "../interfaces.ts";
import { chunkRecords } from "../records.ts";
import { toMessages } from "./messages.ts";
import type { Base } from "./options.ts";
import { SEND_RETRY_DELAY_MS, sendRetries } from "../adapter.ts";

/**
 * An idempotent producer that waits for every in-sync replica (acks=all).
 *
 * @param base Client id, brokers, TLS and SASL.
 * @param sendRetryMs How long a send keeps retrying (`AdapterOptions.sendRetryMs`).
 * @returns The producer; it connects on first use.
 */
export function idempotentProducer(base: Base, sendRetryMs?: number): KafkaProducer {
  const producer = new Producer({
    ...base,
    idempotent: true,
    serializers: stringSerializers,
    // Keys go to the partition the Java client and kafkajs choose: every process agrees.
    partitioner: compatibilityPartitioner,
    // Long enough to outlast a crashed leader (idempotent: a retried batch is never written
    // twice), bounded so an outage fails the send rather than block it.
    retries: sendRetries(sendRetryMs),
    retryDelay: SEND_RETRY_DELAY_MS,
    timeout: 10_000,
  });
  return {
    async connect() {
      await producer.metadata({ topics: [] });
    },
    async send(records) {
      for (const chunk of chunkRecords(records)) {
        await producer.send({ messages: toMessages(chunk) });
      }
    },
    close: () => producer.close(),
  };
}
