/**
 * The seam's plain readers on `@platformatic/kafka`, which commit nothing: whole topics
 * ({@linkcode platformaticReader}) and one partition's range of offsets ({@linkcode readRange}),
 * both with the fetch positions of `fetch.ts`, never in a group.
 */
import { Consumer } from "@platformatic/kafka";
import type { Logger } from "../../log.ts";
import { abortableSleep } from "../../wait.ts";
import { waitFor } from "../../wait.ts";
import { READER_GROUP_PREFIXES } from "../acls.ts";
import type { Reader, ReaderOptions } from "../interfaces.ts";
import type { InRecord } from "../records.ts";
import { earliestOffset, edgeOffsets, type FetchPosition, fetchRound } from "./fetch.ts";
import type { Base } from "./options.ts";

/** A consumer that is never in a group: it only fetches at positions this module keeps. */
function plainConsumer(base: Base): Consumer {
  const consumer = new Consumer({
    ...base,
    groupId: `${READER_GROUP_PREFIXES[0]}${crypto.randomUUID()}`,
    autocommit: false,
    retries: 3,
    retryDelay: 250,
  });
  consumer.on("error", () => {}); // errors reach the fetch calls; an unheard 'error' would crash
  return consumer;
}

/**
 * Reads one partition from `from` (inclusive) to `to` (exclusive), read_committed: see
 * `KafkaClient.readRange`.
 */
export async function readRange(
  base: Base,
  topic: string,
  partition: number,
  from: bigint,
  to: bigint,
  onRecords: (records: readonly InRecord[]) => void,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  if (from >= to) return;
  const consumer = plainConsumer(base);
  let position = from;
  try {
    await waitFor(`${topic}/${partition} to be read from ${from} to ${to}`, async () => {
      const [got] = await fetchRound(consumer, [{ topic, partition, offset: position }], {
        maxWaitMs: 100,
      });
      if (got !== undefined) {
        const wanted = got.records.filter((r) => BigInt(r.offset) < to);
        if (wanted.length > 0) onRecords(wanted);
        position = got.next;
      }
      return position >= to ? { ready: true, value: undefined } : { ready: false };
    }, { timeoutMs, intervalMs: 0, ...(signal ? { signal } : {}) });
  } finally {
    await consumer.close(true).catch(() => {});
  }
}

/**
 * Starts reading whole topics, read_committed, at positions kept here.
 *
 * @param base Client id, brokers, TLS and SASL.
 * @param options Topics, handler, where to start.
 * @param log Receives fetch and handler failures.
 * @returns The running reader.
 */
export function platformaticReader(base: Base, options: ReaderOptions, log: Logger): Reader {
  const consumer = plainConsumer(base);
  const stop = new AbortController();
  let running = false;
  const positions = new Map<string, FetchPosition>();
  const ready = (async () => {
    const metadata = await consumer.metadata({ topics: [...options.topics] });
    for (const topic of options.topics) {
      const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
      const parts = Array.from({ length: count }, (_, i) => i);
      const start = await edgeOffsets(
        consumer,
        topic,
        parts,
        (options.from ?? "beginning") === "beginning" ? "earliest" : "latest",
      );
      for (const p of parts) {
        const at = options.startAt?.(topic, p);
        const offset = at === undefined ? start.get(p)! : BigInt(at);
        positions.set(`${topic}/${p}`, { topic, partition: p, offset });
      }
    }
    running = true;
  })();
  const loop = (async () => {
    await ready;
    let failures = 0;
    while (!stop.signal.aborted) {
      try {
        const got = await fetchRound(consumer, [...positions.values()], {
          maxWaitMs: options.maxWaitMs ?? 100,
        });
        for (const f of got) {
          const at = positions.get(`${f.topic}/${f.partition}`)!;
          if (f.outOfRange) {
            at.offset = await earliestOffset(consumer, f.topic, f.partition);
            continue;
          }
          if (f.records.length > 0) {
            try {
              await options.onBatch({ topic: f.topic, partition: f.partition, records: f.records });
            } catch (error) {
              log.warn("reader: a batch handler failed", { topic: f.topic, error });
            }
          }
          at.offset = f.next;
        }
        failures = 0;
        running = true;
      } catch (error) {
        running = false;
        if (++failures === 1 || failures % 20 === 0) {
          log.warn("reader: fetch failed; trying again", { error, failures });
        }
        await abortableSleep(Math.min(5_000, 100 * failures), stop.signal).catch(() => {});
      }
    }
  })();
  loop.catch(() => {});
  return {
    ready,
    running: () => running,
    async stop() {
      stop.abort();
      await loop.catch(() => {});
      running = false;
      await consumer.close(true).catch(() => {});
    },
  };
}
