/** The seam's idempotent producer on `@platformatic/kafka`. */
import { compatibilityPartitioner, Producer, stringSerializers } from "@platformatic/kafka";
import type { KafkaProducer } from "../interfaces.ts";
import { chunkRecords } from "../records.ts";
import { toMessages } from "./messages.ts";
import type { Base } from "./options.ts";

/**
 * An idempotent producer that waits for every in-sync replica (acks=all).
 *
 * @param base Client id, brokers, TLS and SASL.
 * @returns The producer; it connects on first use.
 */
export function idempotentProducer(base: Base): KafkaProducer {
  const producer = new Producer({
    ...base,
    idempotent: true,
    serializers: stringSerializers,
    // Keys go to the partition the Java client and kafkajs choose: every process agrees.
    partitioner: compatibilityPartitioner,
    // Bounded: the gateway answers 503 within its ack timeout rather than block for an outage.
    retries: 5,
    retryDelay: 200,
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
