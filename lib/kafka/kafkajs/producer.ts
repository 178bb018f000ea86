/** The seam's idempotent producer on kafkajs. */
import kafkajs, { type ICustomPartitioner, type Kafka, Partitioners, type Producer } from "kafkajs";
import type { KafkaProducer } from "../interfaces.ts";
import { type PartitionCounts, sendByPartition } from "./partitions.ts";
import { SEND_RETRY_DELAY_MS, sendRetries } from "../adapter.ts";

/**
 * An idempotent producer that waits for every in-sync replica (acks=all).
 *
 * @param kafka The adapter's `Kafka`.
 * @param counts The adapter's partition counts: each `sendBatch` carries one topic-partition.
 * @param sendRetryMs How long a send keeps retrying (`AdapterOptions.sendRetryMs`).
 * @returns The producer, not connected yet.
 */
export function kafkajsProducer(
  kafka: Kafka,
  counts: PartitionCounts,
  sendRetryMs?: number,
): KafkaProducer {
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: knownPartitioner,
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
    send: (records) => sendByPartition(records, counts, (batch) => producer.sendBatch(batch)),
    close: () => producer.disconnect(),
  };
}

/**
 * kafkajs's default partitioner (murmur2 of the key, as the Java client), refusing an explicit
 * partition the producer's metadata does not list yet (partitions just added): kafkajs leaves the
 * records of such a partition out of its produce requests and still resolves the send
 * (`sendMessages` keeps only partitions with a known leader), which would acknowledge them
 * unwritten. The error is one kafkajs answers by reading metadata again and retrying.
 *
 * @throws {KafkaJSMetadataNotLoaded} When a record's explicit partition is not in the metadata.
 */
export const knownPartitioner: ICustomPartitioner = () => {
  const choose = Partitioners.DefaultPartitioner();
  return function choosePartition(args) {
    const partition = args.message.partition;
    if (
      partition !== undefined && partition !== null &&
      !args.partitionMetadata.some((p) => p.partitionId === partition)
    ) {
      // Its typings omit the message its constructor passes on to KafkaJSError; it is a property
      // of the CommonJS exports only (spread in, so not a named export Deno can see).
      throw new (kafkajs.KafkaJSMetadataNotLoaded as unknown as new (message: string) => Error)(
        `Cannot send to partition ${partition} of topic "${args.topic}": the producer's metadata lists ${args.partitionMetadata.length} partitions`,
      );
    }
    return choose(args);
  };
};
