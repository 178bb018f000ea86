/**
 * A kafkajs `Kafka` for unit tests, with no broker: its producers and transactions record every
 * `sendBatch` call, and its consumer joins at once with nothing assigned.
 */
import type { Kafka } from "kafkajs";
import { partitionOf } from "../partition.ts";
import { type PartitionCounts, partitionCounts } from "./partitions.ts";

/** One record of a `sendBatch` call, as kafkajs got it. */
export interface SentRecord {
  topic: string;
  key: string;
  value: string | null;
  /** The explicit partition the record carried, if any. */
  partition?: number;
}

/** What a test sees of the fake. */
export interface FakeKafka {
  kafka: Kafka;
  /** Every `sendBatch` call, in order, each as its records. */
  calls: SentRecord[][];
  /** The adapter's counts, read from {@linkcode FakeKafka.partitions}. */
  counts: PartitionCounts;
  /** Partition counts Kafka lists now, by topic; a test may add partitions. */
  partitions: Map<string, number>;
  /** Topics whose count was read, once per read. */
  reads: string[];
  /** The options of every producer made. */
  producers: Record<string, unknown>[];
}

type Batch = { topicMessages: { topic: string; messages: Omit<SentRecord, "topic">[] }[] };

/**
 * The fake.
 *
 * @param partitions Partition counts by topic.
 * @returns The fake `Kafka` and what it records.
 */
export function fakeKafka(partitions: Record<string, number>): FakeKafka {
  const calls: SentRecord[][] = [];
  const reads: string[] = [];
  const producers: Record<string, unknown>[] = [];
  const counts = new Map(Object.entries(partitions));
  const sendBatch = (batch: Batch) => {
    calls.push(
      batch.topicMessages.flatMap((t) => t.messages.map((m) => ({ ...m, topic: t.topic }))),
    );
    return Promise.resolve([]);
  };
  const done = () => Promise.resolve();
  const producer = {
    connect: done,
    disconnect: done,
    sendBatch,
    transaction: () => Promise.resolve({ sendBatch, sendOffsets: done, commit: done, abort: done }),
  };
  const handlers = new Map<string, (event: unknown) => void>();
  const consumer = {
    events: { GROUP_JOIN: "join", REBALANCING: "rebalancing", CRASH: "crash" },
    on: (event: string, handler: (event: unknown) => void) => void handlers.set(event, handler),
    connect: done,
    subscribe: done,
    disconnect: done,
    run() {
      handlers.get("join")?.({ payload: { memberAssignment: {} } });
      return Promise.resolve();
    },
  };
  return {
    kafka: {
      producer: (options: Record<string, unknown>) => (producers.push(options), producer),
      consumer: () => consumer,
    } as unknown as Kafka,
    producers,
    calls,
    partitions: counts,
    reads,
    counts: partitionCounts((topic) => {
      reads.push(topic);
      return Promise.resolve(counts.get(topic) ?? 0);
    }),
  };
}

/**
 * The topic-partitions one call carries: a record's explicit partition, else the one kafkajs's
 * default partitioner chooses from `counts`.
 */
export function partitionsOfCall(call: SentRecord[], counts: Map<string, number>): string[] {
  const seen = new Set(
    call.map((r) => `${r.topic}/${r.partition ?? partitionOf(r.key, counts.get(r.topic)!)}`),
  );
  return [...seen];
}
