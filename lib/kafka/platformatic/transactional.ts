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
import { abortableSleep } from "../../retry.ts";
import type {
  BatchContext,
  TopicPartition,
  TransactionalLoop,
  TransactionalOptions,
} from "../interfaces.ts";
import { GroupCommit, NotOwnedError, type Position, type Transactions } from "../group_commit.ts";
import { loopLifecycle, waitAtStartup } from "../loop_lifecycle.ts";
import { countHandled } from "../observe.ts";
import { chunkRecords, type InRecord } from "../records.ts";
import { classify, staleMember, StaleMemberError } from "./errors.ts";
import { edgeOffsets, fetchRound } from "./fetch.ts";
import { clientTransactionApis, commitOffsets } from "./internals.ts";
import { toMessages } from "./messages.ts";
import type { Base } from "./options.ts";

/** Partitions of one instance handled at once. */
const CONCURRENCY = 8;

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
  const { groupId, transactionalId, topics, log } = options;
  const handle = countHandled(groupId, options.handle);
  const sessionTimeout = options.sessionTimeoutMs ?? 30_000;
  const consumer = new Consumer({
    ...base,
    groupId,
    groupInstanceId: options.instanceId,
    autocommit: false,
    sessionTimeout,
    rebalanceTimeout: Math.max(60_000, sessionTimeout),
    heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeout / 3)),
    retries: 5,
    retryDelay: 250,
  });
  const makeProducer = () => {
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
  };
  let producer = makeProducer();

  const owned = new Map<string, Owned>();
  let generation = -1;
  const stopping = new AbortController();
  const waits = { timeoutMs: startupTimeoutMs, log, signal: stopping.signal };
  let wake: () => void = () => {};
  const running = new Set<Promise<void>>();

  const transactions: Transactions = {
    async begin() {
      const tx = await producer.beginTransaction();
      return {
        async send(records) {
          // One request at a time: concurrent sends in one transaction lose partitions.
          for (const chunk of chunkRecords(records)) await tx.send({ messages: toMessages(chunk) });
        },
        async sendOffsets(offsets) {
          await tx.addConsumer(consumer);
          // Every partition in one TxnOffsetCommit (the library's addOffset sends one request per
          // partition, one after another), with the generation and member id it was read under.
          for (const [gen, list] of Map.groupBy(offsets, (o) => o.generation ?? generation)) {
            await commitOffsets(producer, consumer, {
              transactionalId,
              groupId,
              generationId: gen,
              groupInstanceId: options.instanceId,
              offsets: list,
            }).catch((error) => Promise.reject(staleMember(error)));
          }
        },
        commit: () => tx.commit(),
        async abort() {
          try {
            await tx.abort();
          } catch (error) {
            // The producer's own transaction ends here all the same; the coordinator's refusal is
            // the caller's to judge (fenced: this instance must stop).
            await tx.cancel().catch(() => {});
            throw error;
          }
        },
      };
    },
    async reset() {
      const old = producer;
      producer = makeProducer();
      await old.close().catch(() => {});
    },
  };
  const commits = new GroupCommit(transactions, {
    log,
    group: groupId,
    isFatal: (e) => classify(e) === "fatal",
    keepsProducer: (e) => e instanceof StaleMemberError,
    onFatal: (e) => end.fail(e),
    owns: (tp) => {
      const o = owned.get(key(tp));
      const g = (tp as Partial<Position>).generation;
      return o !== undefined && !o.revoked.signal.aborted &&
        (g === undefined || g === o.generation);
    },
  });

  /** A new generation: everything owned before is revoked, the new partitions start afresh. */
  function assign(gen: number, assignments: readonly { topic: string; partitions: number[] }[]) {
    if (gen === generation) return;
    generation = gen;
    for (const o of owned.values()) o.revoked.abort();
    owned.clear();
    for (const a of assignments) {
      if (!topics.includes(a.topic)) continue;
      for (const partition of a.partitions) {
        owned.set(key({ topic: a.topic, partition }), {
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
    commits.dropDeferred();
    options.onAssign?.(
      [...owned.values()].map((o) => ({ topic: o.topic, partition: o.partition })),
    );
    void resolvePositions(gen);
  }

  /**
   * Where partitions (re)start: the group's committed offset, once stable. Every newly owned
   * partition after an assignment; one partition after a failed batch (see `runBatch`).
   */
  async function resolvePositions(gen: number, only?: Owned): Promise<void> {
    for (let attempt = 1; gen === generation && !stopping.signal.aborted; attempt++) {
      try {
        const wanted = only === undefined ? [...owned.values()] : [only];
        const byTopic = Map.groupBy(wanted, (o) => o.topic);
        // requireStable: the previous owner's last transaction may still be completing; reading
        // its offsets before its markers would re-process what it has published (KIP-447).
        const groups = await adminOf().listConsumerGroupOffsets({
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
        if (gen !== generation) return;
        if (only !== undefined && owned.get(key(only)) !== only) return; // revoked meanwhile
        for (const [topic, list] of byTopic) {
          const missing = list.filter((o) => (committed.get(key(o)) ?? -1n) < 0n);
          const start = missing.length === 0 ? new Map<number, bigint>() : await edgeOffsets(
            consumer,
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
        wake();
        return;
      } catch (error) {
        if (attempt === 1 || attempt % 20 === 0) {
          log.warn("cannot read the committed offsets yet; trying again", { error, attempt });
        }
        await abortableSleep(Math.min(2_000, 50 * attempt), stopping.signal).catch(() => {});
      }
    }
  }

  function runBatch(o: Owned, records: InRecord[]): void {
    o.busy = true;
    const signal = AbortSignal.any([o.revoked.signal, stopping.signal]);
    const ctx: BatchContext = {
      signal,
      heartbeat: () => Promise.resolve(), // the library heartbeats on its own timer
      async commit(out, offset) {
        const position: Position = {
          topic: o.topic,
          partition: o.partition,
          offset,
          generation: o.generation,
        };
        if (signal.aborted || owned.get(key(o)) !== o) throw new NotOwnedError(position);
        if (out.length === 0) commits.defer(position);
        else await commits.commit(out, position);
        o.resumeFrom = BigInt(offset) + 1n;
      },
    };
    const last = BigInt(records.at(-1)!.offset);
    const task = handle({ topic: o.topic, partition: o.partition, records }, ctx).then(
      () => {
        // Records the handler returned without committing are read again, as kafkajs does with
        // unresolved offsets: the position moved past the batch when it was fetched.
        if (owned.get(key(o)) === o && o.resumeFrom !== null && o.resumeFrom <= last) {
          o.position = o.resumeFrom;
        }
      },
      async (error) => {
        if (owned.get(key(o)) !== o) return; // revoked meanwhile: the new owner takes it from here
        log.warn("batch failed; reading it again from the group's committed offset", {
          topic: o.topic,
          partition: o.partition,
          error,
        });
        // Not from `resumeFrom`: a commit whose answer was lost (its broker killed after the
        // coordinator had logged it) did commit, and reading its batch again would publish its
        // records a second time. The committed offset, read stable, says which it was.
        o.position = null;
        await abortableSleep(1_000, signal).catch(() => {});
        await resolvePositions(o.generation, o);
      },
    ).finally(() => {
      o.busy = false;
      running.delete(task);
      wake();
    });
    running.add(task);
  }

  async function fetchLoop(): Promise<void> {
    let failures = 0;
    while (!stopping.signal.aborted) {
      const idle = [...owned.values()].filter((o) => o.position !== null && !o.busy);
      const room = CONCURRENCY - running.size;
      if (idle.length === 0 || room <= 0) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100);
        });
        continue;
      }
      try {
        const got = await fetchRound(
          consumer,
          idle.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.position! })),
          // While batches run, others' partitions become idle soon, and only the fetch's return
          // lets them be fetched again: wait for data briefly. With nothing running, wait longer.
          { maxWaitMs: running.size > 0 ? 5 : 50 },
        );
        failures = 0;
        let started = 0;
        for (const f of got) {
          const o = owned.get(`${f.topic}/${f.partition}`);
          if (o === undefined || !idle.includes(o)) continue; // revoked while the fetch was out
          if (f.outOfRange) {
            o.position = (await edgeOffsets(consumer, o.topic, [o.partition], "earliest")).get(
              o.partition,
            )!;
            continue;
          }
          o.position = f.next;
          if (f.records.length > 0 && started < room) {
            started++;
            runBatch(o, f.records);
          } else if (f.records.length > 0) {
            o.position = BigInt(f.records[0]!.offset); // no room now: fetched again later
          }
        }
      } catch (error) {
        if (++failures === 1 || failures % 20 === 0) {
          log.warn("fetch failed; trying again", { error, failures });
        }
        await abortableSleep(Math.min(5_000, 100 * failures), stopping.signal).catch(() => {});
      }
    }
  }

  const ready = (async () => {
    consumer.on("error", (error: Error) => {
      if (classify(error) === "fatal") end.fail(error);
      else log.warn("consumer error", { error });
    });
    // A rejoin that failed (a broker restarting, the coordinator moving) schedules no further
    // heartbeat: the library only says so, a rebalance timeout later. Without membership this
    // loop can neither fetch for the group nor commit, so it ends and its supervisor starts the
    // role again with a fresh client (a retriable end, not fencing).
    consumer.on("consumer:heartbeat:stalled", (p: { lastError?: unknown; stalledFor?: number }) => {
      end.fail(
        new Error(
          `Cannot keep group ${groupId}: no heartbeat for ${p.stalledFor ?? "?"} ms (${
            p.lastError instanceof Error ? p.lastError.message : "no error given"
          })`,
        ),
      );
    });
    consumer.on("consumer:group:join", (p) => {
      if (p.generationId !== undefined) assign(p.generationId, p.assignments ?? []);
    });
    // Initialise the producer id first: it fences an earlier instance of this one.
    await waitAtStartup("the transactional producer to initialise", 1000, async () => {
      try {
        const tx = await producer.beginTransaction();
        await tx.cancel();
      } catch (error) {
        if (classify(error) === "fatal") return { ready: false, fatal: error as Error };
        await transactions.reset();
        throw error;
      }
      return { ready: true, value: undefined };
    }, waits);
    consumer.topics.trackAll(...topics);
    await waitAtStartup("this instance to join its consumer group", 1000, async () => {
      await consumer.joinGroup({
        groupInstanceId: options.instanceId,
        sessionTimeout,
        rebalanceTimeout: Math.max(60_000, sessionTimeout),
        heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeout / 3)),
      });
      return { ready: true, value: undefined };
    }, waits);
    assign(consumer.generationId, consumer.assignments ?? []);
    void fetchLoop();
    log.info("consuming", { groupId, transactionalId, topics, client: "platformatic" });
  })();

  const end = loopLifecycle(ready, async () => {
    stopping.abort();
    wake();
    await ready.catch(() => {});
    await Promise.allSettled([...running]);
    await commits.drain();
    // Leaves the group (a static member too): the partitions move at once.
    await consumer.close(true).catch(() => {});
    await producer.close().catch(() => {});
  });

  return {
    ready,
    done: end.done,
    assigned: () => [...owned.values()].map((o) => ({ topic: o.topic, partition: o.partition })),
    publish(records, position) {
      if (position === undefined) return commits.commit(records, null);
      const o = owned.get(key(position));
      if (o === undefined) return Promise.reject(new NotOwnedError(position));
      return commits.commit(records, { ...position, generation: o.generation });
    },
    stop: () => end.stop(),
  };
}
