/** Records as kafkajs takes and gives them: produce batches, offsets by topic, fetched batches. */
import type { Batch, IHeaders, KafkaMessage } from "kafkajs";
import type { Position } from "../group_commit.ts";
import type { InBatch, InRecord, Outgoing } from "../records.ts";

/** One produce request: records grouped by topic, acks=all. */
export function batchOf(records: readonly Outgoing[]) {
  const byTopic = new Map<
    string,
    {
      key: string;
      value: string | null;
      headers?: Record<string, string>;
      partition?: number;
    }[]
  >();
  for (const r of records) {
    let list = byTopic.get(r.topic);
    if (list === undefined) byTopic.set(r.topic, list = []);
    list.push({
      key: r.key,
      value: r.value,
      ...(r.headers === undefined ? {} : { headers: r.headers }),
      ...("partition" in r && r.partition !== undefined ? { partition: r.partition } : {}),
    });
  }
  return {
    acks: -1,
    topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
  };
}

/** Positions as a transaction's `sendOffsets` takes them: partitions grouped by topic. */
export function offsetTopics(offsets: readonly Position[]) {
  const byTopic = new Map<string, { partition: number; offset: string }[]>();
  for (const o of offsets) {
    let list = byTopic.get(o.topic);
    if (list === undefined) byTopic.set(o.topic, list = []);
    list.push({ partition: o.partition, offset: o.offset });
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

function headersOf(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const last = Array.isArray(value) ? value.at(-1) : value;
    if (last !== undefined) out[name] = last.toString();
  }
  return out;
}

/** A fetched message as the seam's record. */
export function toInRecord(topic: string, partition: number, m: KafkaMessage): InRecord {
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key === null || m.key === undefined ? null : m.key.toString(),
    value: m.value ?? null,
    headers: headersOf(m.headers),
    timestamp: Number(m.timestamp),
  };
}

/** A fetched batch as the seam's batch. */
export function toInBatch(batch: Batch): InBatch {
  return {
    topic: batch.topic,
    partition: batch.partition,
    records: batch.messages.map((m) => toInRecord(batch.topic, batch.partition, m)),
  };
}
