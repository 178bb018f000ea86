/** The seam's idempotent producer on kafkajs. */
import { type Kafka, Partitioners, type Producer } from "kafkajs";
import type { KafkaProducer } from "../interfaces.ts";
import { chunkRecords } from "../records.ts";
import { batchOf } from "./messages.ts";
import { SEND_RETRY_DELAY_MS, sendRetries } from "../adapter.ts";

/**
 * An idempotent producer that waits for every in-sync replica (acks=all).
 *
 * @param kafka The adapter's `Kafka`.
 * @param sendRetryMs How long a send keeps retrying (`AdapterOptions.sendRetryMs`).
 * @returns The producer, not connected yet.
 */
export function kafkajsProducer(kafka: Kafka, sendRetryMs?: number): KafkaProducer {
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    // Long enough to outlast a crashed leader (idempotent: a retried batch is never written
    // twice): kafkajs backs off from the first pause up to the last, with jitter.
    retry: {
      retries: sendRetries(sendRetryMs),
      initialRetryTime: 100,
      maxRetryTime: SEND_RETRY_DELAY_MS,
    },
  });
  return {
    connect: () => producer.connect(),
    async send(records) {
      for (const chunk of chunkRecords(records)) await producer.sendBatch(batchOf(chunk));
    },
    close: () => producer.disconnect(),
  };
}
