/**
 * The seam's plain readers on kafkajs, which commit nothing: whole topics
 * ({@linkcode kafkajsReader}) and one partition's range of offsets ({@linkcode kafkajsRange}).
 * Each is a consumer of a group of its own, named with a reader prefix the ACLs allow.
 */
import type { Consumer, Kafka } from "kafkajs";
import type { Logger } from "../../log.ts";
import { waitFor } from "../../wait.ts";
import { READER_GROUP_PREFIXES } from "../acls.ts";
import type { Reader, ReaderOptions } from "../interfaces.ts";
import type { InRecord } from "../records.ts";
import { toInBatch, toInRecord } from "./messages.ts";

/**
 * Starts reading whole topics, read_committed.
 *
 * @param kafka The adapter's `Kafka`.
 * @param options Topics, handler, where to start.
 * @param log Receives the handler's failures.
 * @returns The running reader.
 */
export function kafkajsReader(kafka: Kafka, options: ReaderOptions, log: Logger): Reader {
  const consumer: Consumer = kafka.consumer({
    groupId: `${READER_GROUP_PREFIXES[0]}${crypto.randomUUID()}`,
    readUncommitted: false,
    maxWaitTimeInMs: options.maxWaitMs ?? 100,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
  });
  let joined = false;
  const ready = new Promise<void>((resolve) =>
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true;
      resolve();
    })
  );
  consumer.on(consumer.events.CRASH, () => (joined = false));
  const startAt = options.startAt;
  if (startAt !== undefined) {
    // Seeks before the first fetch of the assignment: the partitions named start where asked.
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
        for (const partition of partitions) {
          const offset = startAt(topic, partition);
          if (offset !== undefined) consumer.seek({ topic, partition, offset });
        }
      }
    });
  }
  const started = (async () => {
    await consumer.connect();
    await consumer.subscribe({
      topics: [...options.topics],
      fromBeginning: (options.from ?? "beginning") === "beginning",
    });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        try {
          await options.onBatch(toInBatch(batch));
        } catch (error) {
          log.warn("reader: a batch handler failed", { topic: batch.topic, error });
        }
      },
    });
  })();
  return {
    ready: started.then(() => ready),
    running: () => joined,
    async stop() {
      await started.catch(() => {});
      await consumer.disconnect();
    },
  };
}

/**
 * Reads one partition from `range.from` (inclusive) to `range.to` (exclusive), read_committed:
 * see `KafkaClient.readRange`.
 *
 * @param kafka The adapter's `Kafka`.
 * @param range The topic, partition and offsets.
 * @param onRecords Receives the records, in order.
 * @param timeoutMs Longest wait for the position to reach `range.to`.
 * @param signal Ends the wait early.
 */
export async function kafkajsRange(
  kafka: Kafka,
  range: { topic: string; partition: number; from: string; to: string },
  onRecords: (records: readonly InRecord[]) => void,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const { topic, partition, from, to } = range;
  const start = BigInt(from);
  const end = BigInt(to);
  if (start >= end) return;
  signal?.throwIfAborted();
  const consumer = kafka.consumer({
    groupId: `${READER_GROUP_PREFIXES[1]}${crypto.randomUUID()}`,
    readUncommitted: false,
    maxWaitTimeInMs: 100,
  });
  // The position reached: the last offset of each fetched batch of the partition, transaction
  // markers and aborted records included (kafkajs's `Batch.lastOffset()` counts them).
  let reached = false;
  const passed = (offset: string) => {
    if (BigInt(offset) >= end - 1n) reached = true;
  };
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    // Only the wanted partition, from the wanted offset.
    const others = (payload.memberAssignment[topic] ?? []).filter((p) => p !== partition);
    if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
    consumer.seek({ topic, partition, offset: from });
  });
  // A fetch whose records are all markers or aborted records never reaches eachBatch, but kafkajs
  // still reports its batch here (with the offset it skipped to): without this, a range ending in
  // a commit marker or an aborted transaction would never be seen to end.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (payload.topic === topic && payload.partition === partition) passed(payload.lastOffset);
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: ({ batch }) => {
        if (batch.partition !== partition || reached) return Promise.resolve();
        const records = batch.messages.filter((m) => {
          const o = BigInt(m.offset);
          return o >= start && o < end;
        }).map((m) => toInRecord(batch.topic, batch.partition, m));
        if (records.length > 0) onRecords(records);
        passed(batch.lastOffset());
        return Promise.resolve();
      },
    });
    await waitFor(
      `${topic}/${partition} to be read from ${from} to ${to}`,
      () => Promise.resolve(reached ? { ready: true, value: undefined } : { ready: false }),
      { timeoutMs, intervalMs: 20, ...(signal ? { signal } : {}) },
    );
  } finally {
    await consumer.disconnect();
  }
}
