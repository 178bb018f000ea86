/**
 * One topic-partition per kafkajs produce call. kafkajs 2.2.4's `sendMessages` keeps the brokers'
 * answers across retries per broker, not per partition, and gives up at the first failing broker
 * while its other requests keep running. A `sendBatch` that spans brokers can then drop a partition
 * whose leader moved to a broker that had already answered, and still resolve (tulios/kafkajs PR
 * #1798, issue #1303), or write a slow broker's records twice with new sequence numbers. A call
 * with one partition goes to one broker per attempt, and a retry sends all of it again.
 */
import { DespachoError } from "../../errors.ts";
import { partitionOf } from "../partition.ts";
import { chunkRecords, type Outgoing } from "../records.ts";
import { batchOf } from "./messages.ts";

/** Topics' partition counts as Kafka lists them, each read once and kept. */
export interface PartitionCounts {
  /** The count kept for `topic`, if read already. */
  known(topic: string): number | undefined;
  /**
   * Reads `topic`'s count from Kafka and keeps it; reads under way for the same topic are shared.
   *
   * @throws {DespachoError} `KAFKA_UNAVAILABLE` (retriable) when Kafka lists no partition.
   */
  read(topic: string): Promise<number>;
}

/**
 * A cache of partition counts, one per adapter.
 *
 * @param readCount How many partitions Kafka lists for a topic (the admin's topic metadata).
 * @returns The cache, empty.
 */
export function partitionCounts(readCount: (topic: string) => Promise<number>): PartitionCounts {
  const counts = new Map<string, number>();
  const reading = new Map<string, Promise<number>>();
  return {
    known: (topic) => counts.get(topic),
    read(topic) {
      let read = reading.get(topic);
      if (read === undefined) {
        read = readCount(topic).then((count) => {
          if (count < 1) {
            throw new DespachoError(
              "KAFKA_UNAVAILABLE",
              `Cannot choose a partition of topic "${topic}": Kafka lists ${count} partitions`,
              { retriable: true },
            );
          }
          counts.set(topic, count);
          return count;
        }).finally(() => reading.delete(topic));
        reading.set(topic, read);
      }
      return read;
    },
  };
}

/** Records of one topic-partition, in the order they were given. */
export interface PartitionRecords {
  topic: string;
  partition: number;
  records: Outgoing[];
}

/**
 * Groups records by topic-partition: a record's own partition, else `partitionOf(key, count)` (the
 * partition kafkajs's default partitioner would choose). A count is read when a topic has records
 * without a partition and none is kept, or when an explicit partition is beyond the kept count
 * (partitions added since); an explicit partition needs no count otherwise.
 *
 * @param records What one send carries.
 * @param counts The adapter's partition counts.
 * @returns The groups in the order of their first record, each keeping its records' order.
 * @throws {DespachoError} `KAFKA_UNAVAILABLE` (retriable) when an explicit partition is beyond the
 * count read again: kafkajs would leave the record out and still resolve.
 */
export async function byPartition(
  records: readonly Outgoing[],
  counts: PartitionCounts,
): Promise<PartitionRecords[]> {
  const stale = new Map<string, number>();
  for (const r of records) {
    const own = explicitPartition(r);
    const known = counts.known(r.topic);
    if (known === undefined ? own === undefined : own !== undefined && own >= known) {
      stale.set(r.topic, Math.max(stale.get(r.topic) ?? -1, own ?? -1));
    }
  }
  await Promise.all([...stale.keys()].map((topic) => counts.read(topic)));
  for (const [topic, highest] of stale) {
    const count = counts.known(topic)!;
    if (highest >= count) {
      throw new DespachoError(
        "KAFKA_UNAVAILABLE",
        `Cannot send to partition ${highest} of topic "${topic}": Kafka lists ${count} partitions`,
        { retriable: true },
      );
    }
  }
  const groups = new Map<string, PartitionRecords>();
  for (const r of records) {
    const partition = explicitPartition(r) ?? partitionOf(r.key, counts.known(r.topic)!);
    const id = `${r.topic}/${partition}`;
    let group = groups.get(id);
    if (group === undefined) groups.set(id, group = { topic: r.topic, partition, records: [] });
    group.records.push({ ...r, partition } as Outgoing);
  }
  return [...groups.values()];
}

/**
 * Sends records one topic-partition at a time (see the module's note), each partition's in
 * requests under the broker's size limit, one call after another.
 *
 * @param records What to send.
 * @param counts The adapter's partition counts.
 * @param sendBatch kafkajs's `sendBatch` of a producer or a transaction.
 */
export async function sendByPartition(
  records: readonly Outgoing[],
  counts: PartitionCounts,
  sendBatch: (batch: ReturnType<typeof batchOf>) => Promise<unknown>,
): Promise<void> {
  for (const group of await byPartition(records, counts)) {
    for (const chunk of chunkRecords(group.records)) await sendBatch(batchOf(chunk));
  }
}

/** A record's explicit partition, if it has one. */
function explicitPartition(r: Outgoing): number | undefined {
  return "partition" in r ? r.partition : undefined;
}
