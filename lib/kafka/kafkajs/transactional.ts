/**
 * The transactional consume → decide → produce → commit loop on kafkajs: a group member whose
 * batches are handled by up to eight partitions at once, each batch's records and offsets
 * committed in one transaction through {@linkcode GroupCommit}.
 */
import { type Consumer, type Kafka, Partitioners, type Producer } from "kafkajs";
import type {
  BatchContext,
  TopicPartition,
  TransactionalLoop,
  TransactionalOptions,
} from "../interfaces.ts";
import { GroupCommit, NotOwnedError, type Position, type Transactions } from "../group_commit.ts";
import { loopLifecycle, waitAtStartup } from "../loop_lifecycle.ts";
import { countHandled } from "../observe.ts";
import { chunkRecords } from "../records.ts";
import { classify } from "./errors.ts";
import { batchOf, offsetTopics, toInBatch } from "./messages.ts";

/**
 * Runs the transactional loop of one instance.
 *
 * @param kafka The adapter's `Kafka`.
 * @param options Group, transactional id, topics, handler.
 * @param startupTimeoutMs Longest wait for the producer and the group at start-up.
 * @returns The running loop.
 */
export function kafkajsTransactional(
  kafka: Kafka,
  options: TransactionalOptions,
  startupTimeoutMs: number,
): TransactionalLoop {
  const { groupId, transactionalId, topics, log } = options;
  const handle = countHandled(groupId, options.handle);
  const consumer: Consumer = kafka.consumer({
    groupId,
    readUncommitted: false,
    // Long enough that a slow machine keeps its membership; a stopped worker leaves the group at
    // once (disconnect). Long waits in handlers call ctx.heartbeat().
    sessionTimeout: options.sessionTimeoutMs ?? 30_000,
    heartbeatInterval: 3_000,
    maxWaitTimeInMs: 100,
    // Larger fetches mean fewer, fuller transactions when there is a backlog.
    maxBytesPerPartition: 4 * 1024 * 1024,
    maxBytes: 32 * 1024 * 1024,
    retry: { retries: 10 },
  });
  const makeProducer = (): Producer =>
    kafka.producer({
      transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: 60_000,
      createPartitioner: Partitioners.DefaultPartitioner,
      // After a commit, the broker answers CONCURRENT_TRANSACTIONS until the markers are written
      // (a few ms); kafkajs's default first retry (300 ms) would add that to every transaction.
      retry: { initialRetryTime: 5, multiplier: 1.3, maxRetryTime: 200, retries: 60 },
    });
  let producer = makeProducer();
  let connected: Promise<void> | null = null;
  const transactions: Transactions = {
    async begin() {
      const p = producer;
      connected ??= p.connect();
      try {
        await connected;
      } catch (error) {
        connected = null;
        throw error;
      }
      const tx = await p.transaction();
      // One operation at a time: kafkajs's transaction does not take a batch and offsets at once.
      let last: Promise<unknown> = Promise.resolve();
      const inTurn = (op: () => Promise<unknown>): Promise<void> => {
        const run = last.then(op);
        last = run.catch(() => {});
        return run.then(() => {});
      };
      return {
        send: (records) =>
          inTurn(async () => {
            for (const chunk of chunkRecords(records)) await tx.sendBatch(batchOf(chunk));
          }),
        sendOffsets: (offsets) =>
          inTurn(() => tx.sendOffsets({ consumerGroupId: groupId, topics: offsetTopics(offsets) })),
        commit: () => tx.commit(),
        abort: () => tx.abort(),
      };
    },
    async reset() {
      const old = producer;
      producer = makeProducer();
      connected = null;
      await old.disconnect().catch(() => {});
    },
  };

  const owned = new Map<string, TopicPartition>();
  const key = (tp: TopicPartition) => `${tp.topic}/${tp.partition}`;
  const commits = new GroupCommit(transactions, {
    log,
    group: groupId,
    isFatal: (e) => classify(e) === "fatal",
    onFatal: (e) => end.fail(e),
    owns: (tp) => owned.has(key(tp)),
  });
  const stopping = new AbortController();
  const waits = { timeoutMs: startupTimeoutMs, log, signal: stopping.signal };
  let joins = 0;

  const ready = (async () => {
    // Initialise the producer id first: it fences an earlier instance of this one.
    await waitAtStartup("the transactional producer to initialise", 1000, async () => {
      await transactions.begin().then((tx) => tx.abort());
      return { ready: true, value: undefined };
    }, waits);
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      joins++;
      owned.clear();
      for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
        for (const partition of partitions) {
          owned.set(key({ topic, partition }), { topic, partition });
        }
      }
      commits.dropDeferred();
      options.onAssign?.([...owned.values()]);
    });
    // The classic protocol revokes everything at a rebalance: nothing is ours until the next join.
    consumer.on(consumer.events.REBALANCING, () => {
      owned.clear();
      commits.dropDeferred();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) end.fail(payload.error);
    });
    await consumer.connect();
    // A group with no committed offset reads its topics from the start: nothing is skipped.
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 8,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (batch.isEmpty()) return;
        const revoked = new AbortController();
        const onStop = () => revoked.abort();
        stopping.signal.addEventListener("abort", onStop);
        const mine = () => isRunning() && !isStale() && owned.has(key(batch));
        const ctx: BatchContext = {
          signal: revoked.signal,
          heartbeat: async () => {
            if (!mine()) revoked.abort();
            else await heartbeat();
          },
          commit: async (records, offset) => {
            const position: Position = { topic: batch.topic, partition: batch.partition, offset };
            if (!mine()) {
              revoked.abort();
              throw new NotOwnedError(position);
            }
            if (records.length === 0) commits.defer(position);
            else await commits.commit(records, position);
            resolveOffset(offset);
          },
        };
        // Handlers may take a while (SMTP retries, dwell waits): keep the membership alive.
        const beating = setInterval(() => void ctx.heartbeat().catch(() => {}), 1_000);
        try {
          await handle(toInBatch(batch), ctx);
        } finally {
          clearInterval(beating);
          stopping.signal.removeEventListener("abort", onStop);
        }
      },
    });
    await waitAtStartup("this instance to join its consumer group", 100, () =>
      Promise.resolve(
        joins > 0 ? { ready: true, value: undefined } : { ready: false, why: `group ${groupId}` },
      ), waits);
    log.info("consuming", { groupId, transactionalId, topics, client: "kafkajs" });
  })();

  const end = loopLifecycle(ready, async () => {
    stopping.abort();
    await ready.catch(() => {});
    // Leaves the group (LeaveGroup): the partitions move at once, not after the session timeout.
    await consumer.disconnect().catch(() => {});
    await commits.drain();
    await producer.disconnect().catch(() => {});
  });

  return {
    ready,
    done: end.done,
    assigned: () => [...owned.values()],
    publish: (records, position) => commits.commit(records, position ?? null),
    stop: () => end.stop(),
  };
}
