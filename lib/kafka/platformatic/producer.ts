/** The seam's idempotent producer on `@platformatic/kafka`. */
import { compatibilityPartitioner, Producer, stringSerializers } from "@platformatic/kafka";
import { DespachoError } from "../../errors.ts";
import type { KafkaProducer } from "../interfaces.ts";
import { chunkRecords, type Outgoing } from "../records.ts";
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
        await ensureKnownPartitions(producer, chunk);
        await producer.send({ messages: toMessages(chunk) });
      }
    },
    close: () => producer.close(),
  };
}

/** A topic's partition count as a producer's metadata holds it. */
type Counts = { topics: Map<string, { partitionsCount: number } | undefined> };

/** What {@linkcode ensureKnownPartitions} needs of a producer. */
export interface MetadataSource {
  /** The metadata last read, if any. */
  readonly currentMetadata: Counts | undefined;
  /** Reads metadata for `topics`, from the cluster when `forceUpdate`. */
  metadata(options: { topics: string[]; forceUpdate: boolean }): Promise<Counts>;
}

/**
 * Makes sure the producer's metadata lists every explicit partition of `records`, reading it again
 * for the topics short of one: `@platformatic/kafka` takes an explicit partition modulo the count
 * its metadata holds, so with metadata older than partitions just added a record would be written
 * to another partition than the one its caller chose. Records without one cost a loop.
 *
 * @param producer The producer about to send `records`.
 * @param records The records of one send.
 * @throws {DespachoError} `KAFKA_UNAVAILABLE` (retriable) when the metadata read again still lists
 * fewer partitions.
 */
export async function ensureKnownPartitions(
  producer: MetadataSource,
  records: readonly Outgoing[],
): Promise<void> {
  const highest = new Map<string, number>();
  for (const r of records) {
    const partition = "partition" in r ? r.partition : undefined;
    if (partition !== undefined && partition > (highest.get(r.topic) ?? -1)) {
      highest.set(r.topic, partition);
    }
  }
  if (highest.size === 0) return;
  const short = (metadata: Counts | undefined) =>
    [...highest].filter(([topic, p]) => p >= (metadata?.topics.get(topic)?.partitionsCount ?? 0));
  const missing = short(producer.currentMetadata);
  if (missing.length === 0) return;
  const read = await producer.metadata({ topics: missing.map(([t]) => t), forceUpdate: true });
  const [still] = short(read);
  if (still !== undefined) {
    const [topic, partition] = still;
    throw new DespachoError(
      "KAFKA_UNAVAILABLE",
      `Cannot send to partition ${partition} of topic "${topic}": the producer's metadata lists ${
        read.topics.get(topic)?.partitionsCount ?? 0
      } partitions`,
      { retriable: true },
    );
  }
}
