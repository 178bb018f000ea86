/**
 * Feeds the gateway's {@linkcode OrderStore} from the compacted status topic: at start it reads the
 * topic's end offsets, catches up from the offsets the store has applied to those ends (from the
 * beginning for a new or lost store: a rebuild, with progress lines), and only then says it is
 * caught up; after that a reader follows the topic from exactly where the catch-up ended, so no
 * record is missed or read twice in between.
 *
 * Why the catch-up decides readiness: `/readyz` must not say 200 while an order that existed in the
 * topic when this instance started would still answer 404.
 */
import type { InRecord, KafkaClient, Reader } from "../lib/kafka/mod.ts";
import type { Logger } from "../lib/log.ts";
import type { OrderStore } from "./order_store.ts";
import { settled, waitFor } from "../lib/wait.ts";

/** Offsets read per `readRange` call while catching up. */
const CHUNK_OFFSETS = 200_000n;

/** A running status consumer. */
export interface StatusConsumer {
  /** Resolves once the store holds everything the topic held at start; rejects when that fails. */
  caughtUp: Promise<void>;
  /** Whether it is caught up and following the topic. */
  ready(): boolean;
  /** Records applied since this start (a restart that resumes applies only what is new). */
  applied(): number;
  stop(): Promise<void>;
}

/** Options of {@linkcode startStatusConsumer}. */
export interface StatusConsumerOptions {
  /** Milliseconds between progress lines while catching up. @default 2000 */
  progressMs?: number;
  /** Longest time the broker holds a fetch while following, in ms. @default 50 */
  maxWaitMs?: number;
  /**
   * Finished orders older than this are forgotten (once caught up, then every `pruneEveryMs`), as
   * the topic's `retention.ms` deletes them. @default never
   */
  retentionMs?: number;
  /** @default 3600000 */
  pruneEveryMs?: number;
  /** Longest wait for the topic's end offsets at start, in ms. @default 600000 */
  startupTimeoutMs?: number;
}

/**
 * Starts catching up `store` with `topic`, then following it.
 *
 * @param kafka The Kafka client.
 * @param store The store to feed.
 * @param topic The status topic.
 * @param log Logger (progress lines while catching up).
 * @param options Progress period and fetch wait.
 * @returns The consumer; await `caughtUp` before saying ready.
 */
export function startStatusConsumer(
  kafka: KafkaClient,
  store: OrderStore,
  topic: string,
  log: Logger,
  options: StatusConsumerOptions = {},
): StatusConsumer {
  const stop = new AbortController();
  const feed = new Feed(store, topic, log);
  let reader: Reader | null = null;
  let caught = false;
  let pruner: ReturnType<typeof setInterval> | undefined;
  const caughtUp = (async () => {
    const ranges = await catchUp(kafka, feed, options, stop.signal);
    const from = new Map(ranges.map((r) => [r.partition, r.from > r.to ? r.from : r.to]));
    reader = kafka.reader({
      topics: [topic],
      maxWaitMs: options.maxWaitMs ?? 50,
      // The store's own offset: the end of the catch-up at first, and where it is when a client
      // re-seeks after rejoining (kafkajs), so nothing is read twice.
      startAt: (_topic, partition) =>
        store.offsets().get(partition) ?? String(from.get(partition) ?? 0n),
      onBatch: (batch) => feed.apply(batch.partition, batch.records),
    });
    const following = reader;
    await waitFor(
      "the order store's reader to join the status topic",
      settled(following.ready, "joining"),
      {
        timeoutMs: options.startupTimeoutMs ?? 600_000,
        intervalMs: 100,
        say: (line) => log.info(line),
        signal: stop.signal,
      },
    );
    caught = true;
    const retentionMs = options.retentionMs;
    if (retentionMs !== undefined && !stop.signal.aborted) {
      pruner = startPruning(store, retentionMs, options.pruneEveryMs ?? 3_600_000, log);
    }
  })();
  caughtUp.catch(() => {});
  return {
    caughtUp,
    ready: () => caught && !feed.broken && (reader?.running() ?? false),
    applied: () => feed.applied,
    async stop() {
      stop.abort();
      await caughtUp.catch(() => {});
      clearInterval(pruner);
      await reader?.stop().catch(() => {});
    },
  };
}

/** Offsets of one partition to read while catching up: `[from, to)`. */
interface CatchUpRange {
  partition: number;
  from: bigint;
  to: bigint;
}

/** Applies status records to the store, counting them; stops applying after a failed write. */
class Feed {
  /** Records applied since this start. */
  applied = 0;
  /** Records that did not parse, skipped. */
  skipped = 0;
  /** Whether a write failed: not ready from then on; a restart resumes from the offsets on disk. */
  broken = false;
  /** The write that failed: the catch-up ends with it, whatever the client does next. */
  failure: unknown = null;

  constructor(readonly store: OrderStore, readonly topic: string, readonly log: Logger) {}

  /** Applies one partition's records and the offset after them. */
  apply(partition: number, records: readonly InRecord[]): void {
    // After a failed write nothing more is applied: a later batch would move the offset past the
    // records that failed.
    if (records.length === 0 || this.broken) return;
    const next = String(BigInt(records.at(-1)!.offset) + 1n);
    let done;
    try {
      done = this.store.apply(partition, records, next);
    } catch (error) {
      this.broken = true;
      this.failure = error;
      this.log.error(
        "Cannot apply status records to the order store; not ready until restarted",
        { error, topic: this.topic, partition, offset: records[0]!.offset },
      );
      throw error;
    }
    this.applied += done.applied;
    if (done.skipped > 0) {
      this.skipped += done.skipped;
      this.log.warn("skipping status records that do not parse", {
        topic: this.topic,
        partition,
        records: done.skipped,
      });
    }
  }
}

/**
 * Brings the store up to the topic's end offsets at start, with progress lines.
 *
 * @returns The ranges it read: the reader that follows starts where they end.
 */
async function catchUp(
  kafka: KafkaClient,
  feed: Feed,
  options: StatusConsumerOptions,
  signal: AbortSignal,
): Promise<CatchUpRange[]> {
  const { store, topic, log } = feed;
  const started = Date.now();
  // Right after the topic is created a client may still ask a broker that does not lead a
  // partition yet (kafkajs: NOT_LEADER_OR_FOLLOWER): asked again until the start-up ceiling.
  const ends = await waitFor(`the end offsets of ${topic}`, async () => ({
    ready: true,
    value: await kafka.endOffsets(topic),
  }), {
    timeoutMs: options.startupTimeoutMs ?? 600_000,
    intervalMs: 250,
    say: (line) => log.info(line),
    signal,
  });
  const { ranges, rebuilding } = plan(store, ends, topic, log);
  const total = ranges.reduce((n, r) => n + (r.to > r.from ? Number(r.to - r.from) : 0), 0);
  const what = rebuilding ? "rebuilding the order store" : "catching up the order store";
  log.info(what, { topic, offsets: total, partitions: ranges.length });
  const progress = setInterval(() => {
    const s = (Date.now() - started) / 1000;
    log.info(what, {
      records: feed.applied,
      offsets: total,
      percent: total === 0 ? 100 : Math.min(100, Math.round((feed.applied / total) * 100)),
      recordsPerS: Math.round(feed.applied / Math.max(s, 0.001)),
    });
  }, options.progressMs ?? 2_000);
  try {
    await Promise.all(ranges.map((r) => readRange(kafka, feed, r, signal)));
  } finally {
    clearInterval(progress);
  }
  const ms = Date.now() - started;
  log.info("order store caught up", {
    topic,
    records: feed.applied,
    skipped: feed.skipped,
    orders: store.size,
    ms,
    recordsPerS: Math.round(feed.applied / Math.max(ms / 1000, 0.001)),
  });
  return ranges;
}

/**
 * What to read of each partition: from the store's offsets to the topic's ends, or from the
 * beginning after a reset when the store's offsets are past the ends.
 */
function plan(
  store: OrderStore,
  ends: Awaited<ReturnType<KafkaClient["endOffsets"]>>,
  topic: string,
  log: Logger,
): { ranges: CatchUpRange[]; rebuilding: boolean } {
  let stored = store.offsets();
  // Offsets past the topic's end: the store belongs to another cluster or an earlier topic of
  // the same name. Its rows cannot be trusted: rebuild.
  const foreign = [...stored].some(([p, next]) => {
    const end = ends.find((e) => e.partition === p);
    return end === undefined || BigInt(next) > BigInt(end.high);
  });
  if (foreign) {
    log.warn("the order store does not match the status topic; rebuilding it", { topic });
    store.reset();
    stored = store.offsets();
  }
  const ranges = ends.map((e) => {
    const at = BigInt(stored.get(e.partition) ?? "0");
    const from = at > BigInt(e.low) ? at : BigInt(e.low);
    return { partition: e.partition, from, to: BigInt(e.high) };
  });
  return { ranges, rebuilding: stored.size === 0 };
}

/** Reads one partition's range into the store, in slices. */
async function readRange(
  kafka: KafkaClient,
  feed: Feed,
  r: CatchUpRange,
  signal: AbortSignal,
): Promise<void> {
  // In slices: each read has the client's start-up ceiling, which a long history would pass.
  for (let at = r.from; at < r.to; at += CHUNK_OFFSETS) {
    const end = at + CHUNK_OFFSETS < r.to ? at + CHUNK_OFFSETS : r.to;
    await kafka.readRange(
      feed.topic,
      r.partition,
      String(at),
      String(end),
      (records) => feed.apply(r.partition, records),
      signal,
    );
    // A client may read a batch again after its handler threw (both do): the catch-up must
    // still fail, and its end offset must not be saved past the records that were not.
    if (feed.broken) throw feed.failure;
  }
  if (r.from >= r.to) return;
  // The range may end with transaction markers: the position is past them all the same.
  feed.store.apply(r.partition, [], String(r.to));
}

/** Forgets finished orders older than `retentionMs` now, then every `everyMs`. */
function startPruning(
  store: OrderStore,
  retentionMs: number,
  everyMs: number,
  log: Logger,
): ReturnType<typeof setInterval> {
  const prune = () => {
    try {
      const gone = store.prune(new Date(Date.now() - retentionMs).toISOString());
      if (gone > 0) log.info("forgot orders finished before the retention", { orders: gone });
    } catch (error) {
      log.error("Cannot prune the order store", { error });
    }
  };
  prune();
  return setInterval(prune, everyMs);
}
