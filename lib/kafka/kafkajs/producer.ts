/** The seam's idempotent producer on kafkajs. */
import { type Kafka, Partitioners, type Producer } from "kafkajs";
import type { KafkaProducer } from "../interfaces.ts";
import { chunkRecords } from "../records.ts";
import { batchOf } from "./messages.ts";

/**
 * An idempotent producer that waits for every in-sync replica (acks=all).
 *
 * @param kafka The adapter's `Kafka`.
 * @returns The producer, not connected yet.
 */
export function kafkajsProducer(kafka: Kafka): KafkaProducer {
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
  });
  return {
    connect: () => producer.connect(),
    async send(records) {
      for (const chunk of chunkRecords(records)) await producer.sendBatch(batchOf(chunk));
    },
    close: () => producer.disconnect(),
  };
}
