/**
 * Consume → decide → produce → commit, exactly once per input record as seen by read_committed
 * readers: a role's outputs and the input offsets they answer are committed in one Kafka
 * transaction. Crash anywhere, and the open transaction is aborted by the broker when the
 * instance restarts with the same transactional id (fencing); the inputs are read again from the
 * last committed offsets and their outputs published again, once.
 *
 * Commits from partitions processed concurrently are grouped into one transaction (group commit),
 * so the cost of a transaction is shared by everything ready at that moment.
 */
import { type Batch, type Consumer, type Kafka, Partitioners, type Producer } from "kafkajs";
import { type OutRecord, sendRecords } from "./kafka.ts";
import type { Logger } from "./log.ts";

/** What a role's batch handler can do with its batch. */
export interface BatchContext {
  /**
   * Publishes `records` and marks the input consumed up to and including `offset`, atomically.
   * Resolves once the transaction has committed.
   */
  commit(records: readonly OutRecord[], offset: string): Promise<void>;
  /** Keeps the group membership alive during a long wait. */
  heartbeat(): Promise<void>;
  /** Aborted when the loop is stopping or the partition is being revoked; waits should end. */
  signal: AbortSignal;
}

/** Handles one fetched batch of one partition: parse, decide, then `ctx.commit`. */
export type BatchHandler = (batch: Batch, ctx: BatchContext) => Promise<void>;

/** Options of {@linkcode runTransactional}. */
export interface TransactionalOptions {
  kafka: Kafka;
  groupId: string;
  /** Stable per instance; a restarted instance with the same id fences its predecessor. */
  transactionalId: string;
  topics: readonly string[];
  handle: BatchHandler;
  log: Logger;
  /** Partitions handled at once by this instance. @default 8 */
  concurrency?: number;
  /** How soon a crashed member's partitions move to others. @default 10000 */
  sessionTimeoutMs?: number;
  /** Read topics from the start when the group has no committed offset. @default true */
  fromBeginning?: boolean;
  /** Called each time this instance (re)joins the group: partition state held in memory is stale. */
  onAssign?: () => void;
}

/** A running loop. */
export interface TransactionalLoop {
  /** Resolves when the consumer has joined and the loop is running. */
  readonly ready: Promise<void>;
  /** Settles when the loop ends: rejects on a fatal error (e.g. fenced by a newer instance). */
  readonly done: Promise<void>;
  /**
   * Publishes records in a transaction without moving any offset (output not caused by a newly
   * read record, e.g. windows closed because the stream went idle).
   */
  publish(records: readonly OutRecord[]): Promise<void>;
  /** Stops consuming, lets the transaction in progress finish, and disconnects. */
  stop(): Promise<void>;
}

interface Pending {
  records: readonly OutRecord[];
  /** The input position this commit marks consumed; null for records alone. */
  position: { topic: string; partition: number; offset: string } | null;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Runs a consumer group whose outputs and offsets commit in Kafka transactions.
 *
 * @param options The group, topics, handler and identity.
 * @returns The running loop.
 */
export function runTransactional(options: TransactionalOptions): TransactionalLoop {
  const { kafka, groupId, transactionalId, topics, handle, log } = options;
  const consumer: Consumer = kafka.consumer({
    groupId,
    readUncommitted: false,
    // A crashed member holds its partitions until its session times out (kafkajs has no static
    // membership), so keep this short; long waits in handlers call ctx.heartbeat().
    sessionTimeout: options.sessionTimeoutMs ?? 10_000,
    heartbeatInterval: 1_000,
    maxWaitTimeInMs: 100,
    // Larger fetches mean fewer, fuller transactions when there is a backlog.
    maxBytesPerPartition: 4 * 1024 * 1024,
    maxBytes: 32 * 1024 * 1024,
    retry: { retries: 10 },
  });
  const producer: Producer = kafka.producer({
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    transactionTimeout: 60_000,
    createPartitioner: Partitioners.DefaultPartitioner,
    // After a commit, the broker answers CONCURRENT_TRANSACTIONS until the markers are written
    // (a few ms); kafkajs's default first retry (300 ms) would add that to every transaction.
    retry: { initialRetryTime: 5, multiplier: 1.3, maxRetryTime: 200, retries: 60 },
  });
  const stopping = new AbortController();
  let queue: Pending[] = [];
  let flushing: Promise<void> | null = null;
  /** Offsets of input that produced nothing, committed with the next transaction. */
  const deferred = new Map<string, NonNullable<Pending["position"]>>();
  let deferTimer: ReturnType<typeof setTimeout> | undefined;
  const flushDeferred = () => {
    deferTimer = undefined;
    if (deferred.size > 0) void enqueue({ records: [], position: null }).catch(() => {});
  };

  let fail: (error: unknown) => void = () => {};
  const fatal = new Promise<never>((_, reject) => (fail = reject));
  fatal.catch(() => {});

  async function flush(): Promise<void> {
    while (queue.length > 0) {
      const taken = queue;
      queue = [];
      const positions = [...taken.map((p) => p.position), ...deferred.values()];
      deferred.clear();
      const offsets = new Map<string, Map<number, bigint>>();
      for (const position of positions) {
        if (position === null) continue;
        const parts = offsets.get(position.topic) ?? new Map<number, bigint>();
        offsets.set(position.topic, parts);
        const next = BigInt(position.offset) + 1n;
        if ((parts.get(position.partition) ?? -1n) < next) parts.set(position.partition, next);
      }
      const tx = await producer.transaction();
      try {
        await sendRecords(tx, taken.flatMap((p) => p.records));
        if (offsets.size > 0) {
          await tx.sendOffsets({
            consumerGroupId: groupId,
            topics: [...offsets].map(([topic, parts]) => ({
              topic,
              partitions: [...parts].map(([partition, offset]) => ({
                partition,
                offset: offset.toString(),
              })),
            })),
          });
        }
        await tx.commit();
        for (const p of taken) p.resolve();
      } catch (error) {
        log.warn("transaction failed; aborting it", { error, records: taken.length });
        await tx.abort().catch(() => {});
        for (const p of taken) p.reject(error);
        if (isFatal(error)) fail(error);
      }
    }
  }

  function enqueue(p: Omit<Pending, "resolve" | "reject">): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      queue.push({ ...p, resolve, reject });
      // Everything queued while a transaction is in flight rides in the next one.
      flushing ??= flush().finally(() => (flushing = null));
    });
  }

  const ready = (async () => {
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [...topics], fromBeginning: options.fromBeginning ?? true });
    const joined = new Promise<void>((resolve) =>
      consumer.on(consumer.events.GROUP_JOIN, () => resolve())
    );
    // A deferred offset must not be committed once its partition may belong to someone else
    // (it could rewind their commit); dropping it only means re-reading records that publish nothing.
    consumer.on(consumer.events.REBALANCING, () => {
      deferred.clear();
      clearTimeout(deferTimer);
      deferTimer = undefined;
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) fail(payload.error);
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.concurrency ?? 8,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (batch.isEmpty()) return;
        const revoked = new AbortController();
        const onStop = () => revoked.abort();
        stopping.signal.addEventListener("abort", onStop);
        const ctx: BatchContext = {
          signal: revoked.signal,
          heartbeat: async () => {
            if (!isRunning() || isStale()) revoked.abort();
            else await heartbeat();
          },
          commit: async (records, offset) => {
            if (!isRunning() || isStale()) {
              revoked.abort();
              throw new Error(
                `Cannot commit ${batch.topic}/${batch.partition}@${offset}: partition no longer ours`,
              );
            }
            const position = { topic: batch.topic, partition: batch.partition, offset };
            if (records.length === 0) {
              // Nothing to publish: the offset rides in the next transaction (or the idle flush);
              // reading such records again after a crash publishes nothing, so nothing is lost.
              deferred.set(`${position.topic}/${position.partition}`, position);
              deferTimer ??= setTimeout(flushDeferred, 500);
            } else {
              await enqueue({ records, position });
            }
            resolveOffset(offset);
          },
        };
        // Handlers may take a while (SMTP retries, dwell waits): keep the membership alive.
        const beating = setInterval(() => void ctx.heartbeat().catch(() => {}), 1_000);
        try {
          await handle(batch, ctx);
        } finally {
          clearInterval(beating);
          stopping.signal.removeEventListener("abort", onStop);
        }
      },
    });
    await joined;
    log.info("consuming", { groupId, transactionalId, topics });
  })();

  const done = Promise.race([
    fatal,
    new Promise<void>((resolve) => stopping.signal.addEventListener("abort", () => resolve())),
  ]);
  done.catch(() => {});

  return {
    ready,
    done,
    publish: (records) => enqueue({ records, position: null }),
    async stop() {
      stopping.abort();
      clearTimeout(deferTimer);
      await ready.catch(() => {});
      await consumer.disconnect().catch(() => {});
      await flushing?.catch(() => {});
      await producer.disconnect().catch(() => {});
    },
  };
}

/** Errors after which this instance must not go on (another instance took its identity). */
function isFatal(error: unknown): boolean {
  const type = (error as { type?: string } | null)?.type;
  return type === "INVALID_PRODUCER_EPOCH" || type === "PRODUCER_FENCED" ||
    type === "TRANSACTIONAL_ID_AUTHORIZATION_FAILED";
}
