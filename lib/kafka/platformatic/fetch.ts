/**
 * Reading partitions with npm `@platformatic/kafka`'s low-level fetch, with positions this module
 * keeps: the one source of records for the platformatic readers and transactional loop.
 *
 * Why not the library's message stream: after a rebalance it still emits records of partitions
 * this member no longer owns, and a fetch that was in flight during the rejoin can overwrite a
 * freshly reset position, skipping records (seen in a probe against Kafka 4.4). And its
 * read_committed filter drops an aborted transaction's records only when the abort marker is in
 * the same response; here the Java client's rule applies: from an aborted transaction's first
 * offset, that producer's records are skipped until its abort marker, across responses.
 */
import { type Consumer, FetchIsolationLevels, ListOffsetTimestamps } from "@platformatic/kafka";
import type { InRecord } from "../records.ts";

/** Attribute bits of a record batch. */
const IS_TRANSACTIONAL = 0x10;
const IS_CONTROL = 0x20;

/** A partition and where to read it from next. */
export interface FetchPosition {
  topic: string;
  partition: number;
  offset: bigint;
}

/** What one fetch found for one partition. */
export interface Fetched {
  topic: string;
  partition: number;
  /** Visible records from the position on, in offset order. */
  records: InRecord[];
  /** Where to read next: past every batch returned, markers and aborted records included. */
  next: bigint;
  /** The last stable offset: a read_committed reader at or past it has read everything so far. */
  lastStable: bigint;
  /** The partition's position is gone (deleted or compacted away): reset it. */
  outOfRange: boolean;
}

/** Options of {@linkcode fetchRound}. */
export interface FetchOptions {
  /** Longest time the broker holds the fetch waiting for data, in ms. */
  maxWaitMs: number;
  /** Bytes per partition at most. @default 4 MiB */
  partitionMaxBytes?: number;
  /** Bytes per response at most. @default 16 MiB */
  maxBytes?: number;
}

/**
 * One fetch for `positions`: one request per partition leader, at once.
 *
 * @param consumer A consumer (it need not be in a group).
 * @param positions Partitions and their next offsets.
 * @param options Wait and size limits.
 * @returns What each partition returned (partitions with nothing new may be absent).
 * @throws When a leader cannot be reached (after the library's retries).
 */
export async function fetchRound(
  consumer: Consumer,
  positions: readonly FetchPosition[],
  options: FetchOptions,
): Promise<Fetched[]> {
  if (positions.length === 0) return [];
  const topics = [...new Set(positions.map((p) => p.topic))];
  const metadata = await consumer.metadata({ topics });
  const byNode = new Map<number, Map<string, FetchPosition[]>>();
  const names = new Map<string, string>();
  for (const p of positions) {
    const topic = metadata.topics.get(p.topic);
    const leader = topic?.partitions[p.partition]?.leader ?? -1;
    if (topic === undefined || leader < 0) continue; // no leader now: the next round tries again
    names.set(topic.id, p.topic);
    let node = byNode.get(leader);
    if (node === undefined) byNode.set(leader, node = new Map());
    let list = node.get(topic.id);
    if (list === undefined) node.set(topic.id, list = []);
    list.push(p);
  }
  const wanted = new Map(positions.map((p) => [`${p.topic}/${p.partition}`, p.offset]));
  const replies = await Promise.allSettled([...byNode].map(([node, byTopic]) =>
    consumer.fetch({
      node,
      maxWaitTime: options.maxWaitMs,
      maxBytes: options.maxBytes ?? 16 * 1024 * 1024,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      topics: [...byTopic].map(([topicId, list]) => ({
        topicId,
        partitions: list.map((p) => ({
          partition: p.partition,
          fetchOffset: p.offset,
          partitionMaxBytes: options.partitionMaxBytes ?? 4 * 1024 * 1024,
          currentLeaderEpoch: -1,
          lastFetchedEpoch: -1,
        })),
      })),
    })
  ));
  const out: Fetched[] = [];
  let failure: unknown = null;
  for (const reply of replies) {
    if (reply.status === "rejected") {
      // A response that carries per-partition errors still has the other partitions' data.
      const response = (reply.reason as { response?: unknown })?.response;
      if (!isFetchResponse(response)) {
        failure ??= reply.reason;
        continue;
      }
      collect(response, names, wanted, out);
      continue;
    }
    collect(reply.value, names, wanted, out);
  }
  if (out.length === 0 && failure !== null) throw failure;
  return out;
}

type FetchResponse = Awaited<ReturnType<Consumer["fetch"]>>;

function isFetchResponse(value: unknown): value is FetchResponse {
  return typeof value === "object" && value !== null &&
    Array.isArray((value as { responses?: unknown }).responses);
}

function collect(
  response: FetchResponse,
  names: Map<string, string>,
  wanted: Map<string, bigint>,
  out: Fetched[],
): void {
  for (const t of response.responses) {
    const topic = names.get(t.topicId) ?? t.topicId;
    for (const p of t.partitions) {
      const from = wanted.get(`${topic}/${p.partitionIndex}`);
      if (from === undefined) continue;
      if (p.errorCode === 1) {
        out.push({
          topic,
          partition: p.partitionIndex,
          records: [],
          next: from,
          lastStable: p.lastStableOffset,
          outOfRange: true,
        });
        continue;
      }
      if (p.errorCode !== 0) continue; // leadership moved and the like: the next round tries again
      out.push(visible(topic, p, from));
    }
  }
}

/** The visible records of one partition's response, with the Java client's aborted-record rule. */
function visible(
  topic: string,
  p: FetchResponse["responses"][number]["partitions"][number],
  from: bigint,
): Fetched {
  const aborted = [...(p.abortedTransactions ?? [])].sort((a, b) =>
    a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0
  );
  const skipping = new Set<bigint>();
  const records: InRecord[] = [];
  let next = from;
  for (const batch of p.records ?? []) {
    const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    if (last + 1n > next) next = last + 1n;
    while (aborted.length > 0 && aborted[0]!.firstOffset <= last) {
      skipping.add(aborted.shift()!.producerId);
    }
    if (batch.attributes & IS_CONTROL) {
      // A control record's key is (version, type); type 0 is an abort marker.
      const type = batch.records[0]?.key?.readInt16BE(2);
      if (type === 0) skipping.delete(batch.producerId);
      continue;
    }
    if ((batch.attributes & IS_TRANSACTIONAL) && skipping.has(batch.producerId)) continue;
    for (const r of batch.records) {
      const offset = batch.firstOffset + BigInt(r.offsetDelta);
      if (offset < from) continue;
      const headers: Record<string, string> = {};
      for (const [k, v] of r.headers ?? []) {
        if (k !== null) headers[k.toString()] = v?.toString() ?? "";
      }
      records.push({
        topic,
        partition: p.partitionIndex,
        offset: offset.toString(),
        key: r.key === null ? null : r.key.toString(),
        value: r.value,
        headers,
        timestamp: Number(batch.firstTimestamp + r.timestampDelta),
      });
    }
  }
  return {
    topic,
    partition: p.partitionIndex,
    records,
    next,
    lastStable: p.lastStableOffset,
    outOfRange: false,
  };
}

/**
 * The first (`earliest`) or next (`latest`) offsets of a topic's partitions, as a read_committed
 * reader sees them.
 *
 * @param consumer Any consumer.
 * @param topic The topic.
 * @param partitions Which partitions.
 * @param where `earliest` or `latest`.
 */
export async function edgeOffsets(
  consumer: Consumer,
  topic: string,
  partitions: readonly number[],
  where: "earliest" | "latest",
): Promise<Map<number, bigint>> {
  const offsets = await consumer.listOffsets(
    {
      topics: [topic],
      partitions: { [topic]: [...partitions] },
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      timestamp: where === "earliest" ? ListOffsetTimestamps.EARLIEST : ListOffsetTimestamps.LATEST,
    } as Parameters<Consumer["listOffsets"]>[0],
  );
  const list = offsets.get(topic) ?? [];
  return new Map(partitions.map((p) => [p, list[p] ?? 0n]));
}

/**
 * A partition's first offset, as a read_committed reader sees it: where a position that is gone
 * (deleted or compacted away) starts again.
 */
export async function earliestOffset(
  consumer: Consumer,
  topic: string,
  partition: number,
): Promise<bigint> {
  return (await edgeOffsets(consumer, topic, [partition], "earliest")).get(partition)!;
}
