/**
 * The transactional consume → decide → produce → commit loop on `@platformatic/kafka`: a group
 * member with static membership (the instance id), its own fetch positions
 * (`fetch.ts`), up to {@linkcode CONCURRENCY} partitions' batches at once, and every
 * batch's records and offsets in one transaction whose offset commit carries the generation and
 * member id the batch was read under (KIP-447), so a zombie's commit is refused.
 */
import {
  type Admin,
  compatibilityPartitioner,
  Consumer,
  Producer,
  stringSerializers,
} from "@platformatic/kafka";
import { abortableSleep } from "../../wait.ts";
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
import { chunkRecords, type InRecord, type Outgoing } from "../records.ts";
import { classify, staleMember, StaleMemberError } from "./errors.ts";
import { earliestOffset, edgeOffsets, type Fetched, fetchRound } from "./fetch.ts";
import { clientTransactionApis, commitOffsets } from "./internals.ts";
import { toMessages } from "./messages.ts";
import type { Base } from "./options.ts";

/** Partitions of one instance handled at once. */
const CONCURRENCY = 8;

/** The library's producer with string keys, values and headers (`stringSerializers`). */
type StringProducer = Producer<string, string, string, string>;

/** A partition's map key: `topic/partition`. */
const key = (tp: TopicPartition): string => `${tp.topic}/${tp.partition}`;

/** One owned partition in one group generation. */
interface Owned {
  topic: string;
  partition: number;
  generation: number;
  /** The next offset to fetch; null until it is known. */
  position: bigint | null;
  /** Where to start again after a failed batch: past the last record committed or deferred. */
  resumeFrom: bigint | null;
  busy: boolean;
  revoked: AbortController;
}

/**
 * Runs the transactional loop of one instance.
 *
 * @param base Client id and bootstrap brokers.
 * @param options Group, transactional id, topics, handler.
 * @param startupTimeoutMs Longest wait for the producer and the group at start-up.
 * @param adminOf The client's admin (edge offsets of new partitions).
 * @returns The running loop.
 */
export function platformaticTransactional(
  base: Base,
  options: TransactionalOptions,
  startupTimeoutMs: number,
  adminOf: () => Admin,
): TransactionalLoop {
  const member = new TransactionalMember(base, options, startupTimeoutMs, adminOf);
  return {
    ready: member.ready,
    done: member.end.done,
    assigned: () => member.assigned(),
    publish: (records, position) => member.publish(records, position),
    stop: () => member.end.stop(),
  };
}

/** The group membership's timings, the same when the consumer is made and when it joins. */
function membershipTimes(options: TransactionalOptions) {
  const sessionTimeout = options.sessionTimeoutMs ?? 30_000;
  return {
    sessionTimeout,
    rebalanceTimeout: Math.max(60_000, sessionTimeout),
    heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeout / 3)),
  };
}

/** The instance's consumer: a static member of the group that commits nothing by itself. */
function groupConsumer(base: Base, options: TransactionalOptions): Consumer {
  return new Consumer({
    ...base,
    groupId: options.groupId,
    groupInstanceId: options.instanceId,
    autocommit: false,
    ...membershipTimes(options),
    retries: 5,
    retryDelay: 250,
  });
}

/** The instance's transactional producer, AddPartitionsToTxn capped at the clients' version. */
function transactionalProducer(base: Base, transactionalId: string): StringProducer {
  const made = new Producer({
    ...base,
    idempotent: true,
    transactionalId,
    // Ask for a fresh producer id: with the library's default (0, 0) a restarted instance is
    // refused with PRODUCER_FENCED instead of fencing its predecessor.
    producerId: -1n,
    producerEpoch: -1,
    serializers: stringSerializers,
    partitioner: compatibilityPartitioner,
    // Also the transaction timeout: a transaction open longer is aborted by the coordinator.
    timeout: 30_000,
    // After each commit the coordinator answers CONCURRENT_TRANSACTIONS until its markers are
    // written (about 6 ms here); the library's default pause (1 s) would be paid by every
    // transaction, and 10 ms made a transaction's first send wait 14 ms on average, 2 ms 7 ms.
    retryDelay: 2,
    retries: 300,
  });
  clientTransactionApis(made);
  return made;
}

/**
 * The group's committed offsets of `byTopic`'s partitions, by partition key; absent or negative:
 * none yet. `requireStable`: the previous owner's last transaction may still be completing;
 * reading its offsets before its markers would re-process what it has published (KIP-447).
 */
async function stableOffsets(
  admin: Admin,
  groupId: string,
  byTopic: Map<string, readonly Owned[]>,
): Promise<Map<string, bigint>> {
  const groups = await admin.listConsumerGroupOffsets({
    groups: [{
      groupId,
      topics: [...byTopic].map(([name, list]) => ({
        name,
        partitionIndexes: list.map((o) => o.partition),
      })),
    }],
    requireStable: true,
  });
  const committed = new Map<string, bigint>();
  for (const t of groups[0]?.topics ?? []) {
    for (const p of t.partitions) {
      committed.set(`${t.name}/${p.partitionIndex}`, p.committedOffset);
    }
  }
  return committed;
}

/**
 * One instance in its group: the partitions it owns in the current generation and where each is
 * read, the fetch loop, the batches being handled, and the transactions they commit in. Each step
 * of the loop is a method: {@linkcode start}, {@linkcode assign}, {@linkcode resolvePositions},
 * {@linkcode fetchLoop}, {@linkcode runBatch}, {@linkcode close}.
 */
class TransactionalMember {
  readonly ready: Promise<void>;
  readonly end: LoopLifecycle;
  private readonly consumer: Consumer;
  private producer: StringProducer;
  private readonly commits: GroupCommit;
  private readonly handle: BatchHandler;
  private readonly owned = new Map<string, Owned>();
  private generation = -1;
  private readonly stopping = new AbortController();
  /** Ends the fetch loop's idle wait early: positions are known, or a batch has ended. */
  private wake: () => void = () => {};
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly base: Base,
    private readonly options: TransactionalOptions,
    private readonly startupTimeoutMs: number,
    private readonly adminOf: () => Admin,
  ) {
    this.handle = countHandled(options.groupId, options.handle);
    this.consumer = groupConsumer(base, options);
    this.producer = transactionalProducer(base, options.transactionalId);
    this.commits = new GroupCommit(this.producerTransactions(), {
      log: options.log,
      group: options.groupId,
      isFatal: (e) => classify(e) === "fatal",
      keepsProducer: (e) => e instanceof StaleMemberError,
      onFatal: (e) => this.end.fail(e),
      owns: (tp) => this.owns(tp),
    });
    this.ready = this.start();
    this.end = loopLifecycle(this.ready, () => this.close());
  }

  /** The partitions owned now. */
  assigned(): TopicPartition[] {
    return [...this.owned.values()].map((o) => ({ topic: o.topic, partition: o.partition }));
  }

  /** See `TransactionalLoop.publish`: a position is committed under its partition's generation. */
  publish(records: readonly Outgoing[], position?: TopicPartition & { offset: string }) {
    if (position === undefined) return this.commits.commit(records, null);
    const o = this.owned.get(key(position));
    if (o === undefined) return Promise.reject(new NotOwnedError(position));
    return this.commits.commit(records, { ...position, generation: o.generation });
  }

  /** Whether `tp` is still owned, and in the generation it was read under when that is known. */
  private owns(tp: TopicPartition): boolean {
    const o = this.owned.get(key(tp));
    const g = (tp as Partial<Position>).generation;
    return o !== undefined && !o.revoked.signal.aborted && (g === undefined || g === o.generation);
  }

  /** Transactions of the current producer, as {@linkcode GroupCommit} runs them. */
  private producerTransactions(): Transactions {
    const { groupId, transactionalId, instanceId } = this.options;
    return {
      begin: async () => {
        const tx = await this.producer.beginTransaction();
        return {
          async send(records) {
            // One request at a time: concurrent sends in one transaction lose partitions.
            for (const chunk of chunkRecords(records)) {
              await tx.send({ messages: toMessages(chunk) });
            }
          },
          sendOffsets: async (offsets) => {
            await tx.addConsumer(this.consumer);
            // Every partition in one TxnOffsetCommit (the library's addOffset sends one request
            // per partition, one after another), with the generation and member id it was read
            // under.
            for (
              const [gen, list] of Map.groupBy(offsets, (o) => o.generation ?? this.generation)
            ) {
              await commitOffsets(this.producer, this.consumer, {
                transactionalId,
                groupId,
                generationId: gen,
                groupInstanceId: instanceId,
                offsets: list,
              }).catch((error) => Promise.reject(staleMember(error)));
            }
          },
          commit: () => tx.commit(),
          async abort() {
            try {
              await tx.abort();
            } catch (error) {
              // The producer's own transaction ends here all the same; the coordinator's refusal
              // is the caller's to judge (fenced: this instance must stop).
              await tx.cancel().catch(() => {});
              throw error;
            }
          },
        };
      },
      reset: () => this.resetProducer(),
    };
  }

  /** A new producer (same transactional id) in place of one a failed transaction left behind. */
  private async resetProducer(): Promise<void> {
    const old = this.producer;
    this.producer = transactionalProducer(this.base, this.options.transactionalId);
    await old.close().catch(() => {});
  }

  /** Listens to the group, initialises the producer (fencing), joins, then starts fetching. */
  private async start(): Promise<void> {
    const { groupId, transactionalId, topics, log } = this.options;
    const waits = { timeoutMs: this.startupTimeoutMs, log, signal: this.stopping.signal };
    this.listen();
    // Initialise the producer id first: it fences an earlier instance of this one.
    await waitAtStartup("the transactional producer to initialise", 1000, async () => {
      try {
        const tx = await this.producer.beginTransaction();
        await tx.cancel();
      } catch (error) {
        if (classify(error) === "fatal") return { ready: false, fatal: error as Error };
        await this.resetProducer();
        throw error;
      }
      return { ready: true, value: undefined };
    }, waits);
    this.consumer.topics.trackAll(...topics);
    await waitAtStartup("this instance to join its consumer group", 1000, async () => {
      await this.consumer.joinGroup({
        groupInstanceId: this.options.instanceId,
        ...membershipTimes(this.options),
      });
      return { ready: true, value: undefined };
    }, waits);
    this.assign(this.consumer.generationId, this.consumer.assignments ?? []);
    void this.fetchLoop();
    log.info("consuming", { groupId, transactionalId, topics, client: "platformatic" });
  }

  /** The consumer's events: fatal errors, a stalled heartbeat, a new generation. */
  private listen(): void {
    const { groupId, log } = this.options;
    this.consumer.on("error", (error: Error) => {
      if (classify(error) === "fatal") this.end.fail(error);
      else log.warn("consumer error", { error });
    });
    // A rejoin that failed (a broker restarting, the coordinator moving) schedules no further
    // heartbeat: the library only says so, a rebalance timeout later. Without membership this
    // loop can neither fetch for the group nor commit, so it ends and its supervisor starts the
    // role again with a fresh client (a retriable end, not fencing).
    this.consumer.on(
      "consumer:heartbeat:stalled",
      (p: { lastError?: unknown; stalledFor?: number }) => {
        this.end.fail(
          new Error(
            `Cannot keep group ${groupId}: no heartbeat for ${p.stalledFor ?? "?"} ms (${
              p.lastError instanceof Error ? p.lastError.message : "no error given"
            })`,
          ),
        );
      },
    );
    this.consumer.on("consumer:group:join", (p) => {
      if (p.generationId !== undefined) this.assign(p.generationId, p.assignments ?? []);
    });
  }

  /** A new generation: everything owned before is revoked, the new partitions start afresh. */
  private assign(gen: number, assignments: readonly { topic: string; partitions: number[] }[]) {
    if (gen === this.generation) return;
    this.generation = gen;
    for (const o of this.owned.values()) o.revoked.abort();
    this.owned.clear();
    for (const a of assignments) {
      if (!this.options.topics.includes(a.topic)) continue;
      for (const partition of a.partitions) {
        this.owned.set(key({ topic: a.topic, partition }), {
          topic: a.topic,
          partition,
          generation: gen,
          position: null,
          resumeFrom: null,
          busy: false,
          revoked: new AbortController(),
        });
      }
    }
    this.commits.dropDeferred();
    this.options.onAssign?.(this.assigned());
    void this.resolvePositions(gen);
  }

  /**
   * Where partitions (re)start: the group's committed offset, once stable. Every newly owned
   * partition after an assignment; one partition after a failed batch (see `runBatch`).
   */
  private async resolvePositions(gen: number, only?: Owned): Promise<void> {
    for (let attempt = 1; gen === this.generation && !this.stopping.signal.aborted; attempt++) {
      try {
        const wanted = only === undefined ? [...this.owned.values()] : [only];
        const byTopic = Map.groupBy(wanted, (o) => o.topic);
        const committed = await stableOffsets(this.adminOf(), this.options.groupId, byTopic);
        if (gen !== this.generation) return;
        if (only !== undefined && this.owned.get(key(only)) !== only) return; // revoked meanwhile
        for (const [topic, list] of byTopic) {
          const missing = list.filter((o) => (committed.get(key(o)) ?? -1n) < 0n);
          const start = missing.length === 0 ? new Map<number, bigint>() : await edgeOffsets(
            this.consumer,
            topic,
            missing.map((o) => o.partition),
            "earliest", // a group with no committed offset reads its topics from the start
          );
          for (const o of list) {
            const c = committed.get(key(o)) ?? -1n;
            o.position = c >= 0n ? c : start.get(o.partition) ?? 0n;
            o.resumeFrom = o.position;
          }
        }
        this.wake();
        return;
      } catch (error) {
        if (attempt === 1 || attempt % 20 === 0) {
          this.options.log.warn("cannot read the committed offsets yet; trying again", {
            error,
            attempt,
          });
        }
        await abortableSleep(Math.min(2_000, 50 * attempt), this.stopping.signal).catch(() => {});
      }
    }
  }

  /** Fetches for the idle partitions while there is room, and hands what it gets to `runBatch`. */
  private async fetchLoop(): Promise<void> {
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      const idle = [...this.owned.values()].filter((o) => o.position !== null && !o.busy);
      const room = CONCURRENCY - this.running.size;
      if (idle.length === 0 || room <= 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, 100);
        });
        continue;
      }
      try {
        const got = await fetchRound(
          this.consumer,
          idle.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.position! })),
          // While batches run, others' partitions become idle soon, and only the fetch's return
          // lets them be fetched again: wait for data briefly. With nothing running, wait longer.
          { maxWaitMs: this.running.size > 0 ? 5 : 50 },
        );
        failures = 0;
        await this.startBatches(got, idle, room);
      } catch (error) {
        if (++failures === 1 || failures % 20 === 0) {
          this.options.log.warn("fetch failed; trying again", { error, failures });
        }
        await abortableSleep(Math.min(5_000, 100 * failures), this.stopping.signal).catch(
          () => {},
        );
      }
    }
  }

  /**
   * Moves the positions of what one fetch for `idle` got, and starts at most `room` of its
   * partitions' batches; the others are fetched again later.
   */
  private async startBatches(
    got: readonly Fetched[],
    idle: readonly Owned[],
    room: number,
  ): Promise<void> {
    let started = 0;
    for (const f of got) {
      const o = this.owned.get(`${f.topic}/${f.partition}`);
      if (o === undefined || !idle.includes(o)) continue; // revoked while the fetch was out
      if (f.outOfRange) {
        o.position = await earliestOffset(this.consumer, o.topic, o.partition);
        continue;
      }
      o.position = f.next;
      if (f.records.length > 0 && started < room) {
        started++;
        this.runBatch(o, f.records);
      } else if (f.records.length > 0) {
        o.position = BigInt(f.records[0]!.offset); // no room now: fetched again later
      }
    }
  }

  /** Hands one partition's batch to the handler; its end frees the partition for the next fetch. */
  private runBatch(o: Owned, records: InRecord[]): void {
    o.busy = true;
    const signal = AbortSignal.any([o.revoked.signal, this.stopping.signal]);
    const last = BigInt(records.at(-1)!.offset);
    const task = this.handle(
      { topic: o.topic, partition: o.partition, records },
      this.batchContext(o, signal),
    ).then(
      () => {
        // Records the handler returned without committing are read again, as kafkajs does with
        // unresolved offsets: the position moved past the batch when it was fetched.
        if (this.owned.get(key(o)) === o && o.resumeFrom !== null && o.resumeFrom <= last) {
          o.position = o.resumeFrom;
        }
      },
      (error) => this.batchFailed(o, signal, error),
    ).finally(() => {
      o.busy = false;
      this.running.delete(task);
      this.wake();
    });
    this.running.add(task);
  }

  /** What the handler of `o`'s batch may do: commit while `o` is still owned, as it was read. */
  private batchContext(o: Owned, signal: AbortSignal): BatchContext {
    return {
      signal,
      heartbeat: () => Promise.resolve(), // the library heartbeats on its own timer
      commit: async (out, offset) => {
        const position: Position = {
          topic: o.topic,
          partition: o.partition,
          offset,
          generation: o.generation,
        };
        if (signal.aborted || this.owned.get(key(o)) !== o) throw new NotOwnedError(position);
        if (out.length === 0) this.commits.defer(position);
        else await this.commits.commit(out, position);
        o.resumeFrom = BigInt(offset) + 1n;
      },
    };
  }

  /** After a failed batch, `o` is read again from the group's committed offset. */
  private async batchFailed(o: Owned, signal: AbortSignal, error: unknown): Promise<void> {
    if (this.owned.get(key(o)) !== o) return; // revoked meanwhile: the new owner takes it from here
    this.options.log.warn("batch failed; reading it again from the group's committed offset", {
      topic: o.topic,
      partition: o.partition,
      error,
    });
    // Not from `resumeFrom`: a commit whose answer was lost (its broker killed after the
    // coordinator had logged it) did commit, and reading its batch again would publish its
    // records a second time. The committed offset, read stable, says which it was.
    o.position = null;
    await abortableSleep(1_000, signal).catch(() => {});
    await this.resolvePositions(o.generation, o);
  }

  /** Stops fetching, lets the batches and transactions in progress end, leaves, closes. */
  private async close(): Promise<void> {
    this.stopping.abort();
    this.wake();
    await this.ready.catch(() => {});
    await Promise.allSettled([...this.running]);
    await this.commits.drain();
    // Leaves the group (a static member too): the partitions move at once.
    await this.consumer.close(true).catch(() => {});
    await this.producer.close().catch(() => {});
  }
}
