/**
 * The transactional consume → decide → produce → commit loop on kafkajs: a group member whose
 * batches are handled by up to eight partitions at once, each batch's records and offsets
 * committed in one transaction through {@linkcode GroupCommit}.
 */
import {
  type Batch,
  type Consumer,
  type EachBatchPayload,
  type Kafka,
  type Producer,
} from "kafkajs";
import type {
  BatchContext,
  BatchHandler,
  TopicPartition,
  TransactionalLoop,
  TransactionalOptions,
} from "../interfaces.ts";
import { GroupCommit, NotOwnedError, type Position, type Transactions } from "../group_commit.ts";
import { type LoopLifecycle, loopLifecycle, waitAtStartup } from "../loop_lifecycle.ts";
import { countHandled } from "../observe.ts";
import type { Outgoing } from "../records.ts";
import { classify } from "./errors.ts";
import { offsetTopics, toInBatch } from "./messages.ts";
import { type PartitionCounts, sendByPartition } from "./partitions.ts";
import { knownPartitioner } from "./producer.ts";

/**
 * Runs the transactional loop of one instance.
 *
 * @param kafka The adapter's `Kafka`.
 * @param options Group, transactional id, topics, handler.
 * @param startupTimeoutMs Longest wait for the producer and the group at start-up.
 * @param counts The adapter's partition counts: each `sendBatch` carries one topic-partition.
 * @returns The running loop.
 */
export function kafkajsTransactional(
  kafka: Kafka,
  options: TransactionalOptions,
  startupTimeoutMs: number,
  counts: PartitionCounts,
): TransactionalLoop {
  const member = new TransactionalMember(kafka, options, startupTimeoutMs, counts);
  return {
    ready: member.ready,
    done: member.end.done,
    assigned: () => member.assigned(),
    publish: (records, position) => member.publish(records, position),
    stop: () => member.end.stop(),
  };
}

/** The instance's consumer: a member of the group that commits nothing by itself. */
function groupConsumer(kafka: Kafka, options: TransactionalOptions): Consumer {
  return kafka.consumer({
    groupId: options.groupId,
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
}

/** The instance's transactional producer. */
function transactionalProducer(kafka: Kafka, transactionalId: string): Producer {
  return kafka.producer({
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    transactionTimeout: 60_000,
    // Every record carries a partition chosen from the adapter's counts (partitions.ts), which may
    // be newer than this producer's metadata: kafkajs would leave a partition it does not list out
    // of the request and still resolve; knownPartitioner makes it read metadata again instead.
    createPartitioner: knownPartitioner,
    // After a commit, the broker answers CONCURRENT_TRANSACTIONS until the markers are written
    // (a few ms); kafkajs's default first retry (300 ms) would add that to every transaction.
    retry: { initialRetryTime: 5, multiplier: 1.3, maxRetryTime: 200, retries: 60 },
  });
}

/** A partition's map key: `topic/partition`. */
const key = (tp: TopicPartition) => `${tp.topic}/${tp.partition}`;

/**
 * One instance in its group: the partitions it owns, the batches kafkajs hands it, and the
 * transactions they commit in. Each step of the loop is a method: {@linkcode start},
 * {@linkcode listen}, {@linkcode eachBatch}, {@linkcode batchContext}, {@linkcode close}.
 */
class TransactionalMember {
  readonly ready: Promise<void>;
  readonly end: LoopLifecycle;
  private readonly consumer: Consumer;
  private producer: Producer;
  /** The producer's connection under way or made; null: connect at the next transaction. */
  private connected: Promise<void> | null = null;
  private readonly transactions: Transactions;
  private readonly commits: GroupCommit;
  private readonly handle: BatchHandler;
  private readonly owned = new Map<string, TopicPartition>();
  private readonly stopping = new AbortController();
  private joins = 0;

  constructor(
    private readonly kafka: Kafka,
    private readonly options: TransactionalOptions,
    private readonly startupTimeoutMs: number,
    private readonly counts: PartitionCounts,
  ) {
    this.handle = countHandled(options.groupId, options.handle);
    this.consumer = groupConsumer(kafka, options);
    this.producer = transactionalProducer(kafka, options.transactionalId);
    this.transactions = this.producerTransactions();
    this.commits = new GroupCommit(this.transactions, {
      log: options.log,
      group: options.groupId,
      isFatal: (e) => classify(e) === "fatal",
      onFatal: (e) => this.end.fail(e),
      owns: (tp) => this.owned.has(key(tp)),
    });
    this.ready = this.start();
    this.end = loopLifecycle(this.ready, () => this.close());
  }

  /** The partitions owned now. */
  assigned(): TopicPartition[] {
    return [...this.owned.values()];
  }

  /** See `TransactionalLoop.publish`. */
  publish(records: readonly Outgoing[], position?: TopicPartition & { offset: string }) {
    return this.commits.commit(records, position ?? null);
  }

  /** Transactions of the current producer, as {@linkcode GroupCommit} runs them. */
  private producerTransactions(): Transactions {
    const groupId = this.options.groupId;
    return {
      begin: async () => {
        const p = this.producer;
        this.connected ??= p.connect();
        try {
          await this.connected;
        } catch (error) {
          this.connected = null;
          throw error;
        }
        const tx = await p.transaction();
        // One operation at a time: kafkajs's transaction does not take a batch and offsets at
        // once.
        let last: Promise<unknown> = Promise.resolve();
        const inTurn = (op: () => Promise<unknown>): Promise<void> => {
          const run = last.then(op);
          last = run.catch(() => {});
          return run.then(() => {});
        };
        return {
          // One topic-partition per sendBatch: kafkajs can drop or repeat records of a batch that
          // spans brokers (partitions.ts).
          send: (records) =>
            inTurn(() => sendByPartition(records, this.counts, (batch) => tx.sendBatch(batch))),
          sendOffsets: (offsets) =>
            inTurn(() =>
              tx.sendOffsets({ consumerGroupId: groupId, topics: offsetTopics(offsets) })
            ),
          commit: () => tx.commit(),
          abort: () => tx.abort(),
        };
      },
      reset: async () => {
        const old = this.producer;
        this.producer = transactionalProducer(this.kafka, this.options.transactionalId);
        this.connected = null;
        await old.disconnect().catch(() => {});
      },
    };
  }

  /** Initialises the producer (fencing), then joins the group and runs the batches. */
  private async start(): Promise<void> {
    const { groupId, transactionalId, topics, log } = this.options;
    const waits = { timeoutMs: this.startupTimeoutMs, log, signal: this.stopping.signal };
    // Initialise the producer id first: it fences an earlier instance of this one.
    await waitAtStartup("the transactional producer to initialise", 1000, async () => {
      await this.transactions.begin().then((tx) => tx.abort());
      return { ready: true, value: undefined };
    }, waits);
    this.listen();
    await this.consumer.connect();
    // A group with no committed offset reads its topics from the start: nothing is skipped.
    await this.consumer.subscribe({ topics: [...topics], fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 8,
      eachBatch: (payload) => this.eachBatch(payload),
    });
    await waitAtStartup("this instance to join its consumer group", 100, () =>
      Promise.resolve(
        this.joins > 0
          ? { ready: true, value: undefined }
          : { ready: false, why: `group ${groupId}` },
      ), waits);
    log.info("consuming", { groupId, transactionalId, topics, client: "kafkajs" });
  }

  /** The consumer's events: a join (the partitions owned from now), a rebalance, a crash. */
  private listen(): void {
    const consumer = this.consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.joins++;
      this.owned.clear();
      for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
        for (const partition of partitions) {
          this.owned.set(key({ topic, partition }), { topic, partition });
        }
      }
      this.commits.dropDeferred();
      this.options.onAssign?.([...this.owned.values()]);
    });
    // The classic protocol revokes everything at a rebalance: nothing is ours until the next join.
    consumer.on(consumer.events.REBALANCING, () => {
      this.owned.clear();
      this.commits.dropDeferred();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.end.fail(payload.error);
    });
  }

  /** One batch kafkajs fetched: handled with a heartbeat kept, ended early when revoked. */
  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, isRunning, isStale } = payload;
    if (batch.isEmpty()) return;
    const revoked = new AbortController();
    const onStop = () => revoked.abort();
    this.stopping.signal.addEventListener("abort", onStop);
    const mine = () => isRunning() && !isStale() && this.owned.has(key(batch));
    const ctx = this.batchContext(batch, revoked, mine, heartbeat, payload.resolveOffset);
    // Handlers may take a while (SMTP retries, dwell waits): keep the membership alive.
    const beating = setInterval(() => void ctx.heartbeat().catch(() => {}), 1_000);
    try {
      await this.handle(toInBatch(batch), ctx);
    } finally {
      clearInterval(beating);
      this.stopping.signal.removeEventListener("abort", onStop);
    }
  }

  /** What the handler of `batch` may do: commit, and beat, while the batch is still this one's. */
  private batchContext(
    batch: Batch,
    revoked: AbortController,
    mine: () => boolean,
    heartbeat: () => Promise<void>,
    resolveOffset: (offset: string) => void,
  ): BatchContext {
    return {
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
        if (records.length === 0) this.commits.defer(position);
        else await this.commits.commit(records, position);
        resolveOffset(offset);
      },
    };
  }

  /** Stops consuming, leaves the group, lets the transactions in progress end, disconnects. */
  private async close(): Promise<void> {
    this.stopping.abort();
    await this.ready.catch(() => {});
    // Leaves the group (LeaveGroup): the partitions move at once, not after the session timeout.
    await this.consumer.disconnect().catch(() => {});
    await this.commits.drain();
    await this.producer.disconnect().catch(() => {});
  }
}
