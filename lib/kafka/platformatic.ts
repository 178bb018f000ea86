/**
 * The seam on npm `@platformatic/kafka` 2.12 (maintained, pure TypeScript). With it Despacho gets
 * what kafkajs cannot give:
 * - exactly-once across live rebalances (KIP-447): every transactional offset commit carries the
 *   group generation and member id it was read under, so a zombie (a member that lost its
 *   partitions and does not know yet) is refused, and its transaction aborted;
 * - static membership (KIP-345), keyed by the instance id: a restarted worker takes its partitions
 *   back at once, without a rebalance;
 * - a faster producer (about 2.4× kafkajs's records/s for a third of the CPU in a probe here).
 *
 * Records come from `platformatic_fetch.ts` (positions kept here, not the library's stream). The
 * group uses the classic protocol: the new one (KIP-848) refuses transactional offset commits from
 * this client (it sends no member epoch), so it is not used.
 */
import {
  Admin,
  compatibilityPartitioner,
  Consumer,
  FetchIsolationLevels,
  kGetApi,
  kGetConnection,
  kMetadata,
  kPerformWithRetry,
  ListOffsetTimestamps,
  Producer,
  stringSerializers,
} from "@platformatic/kafka";
import type { Logger } from "../log.ts";
import { abortableSleep } from "../retry.ts";
import { waitFor } from "../wait.ts";
import type {
  BatchContext,
  ErrorKind,
  KafkaClient,
  KafkaProducer,
  Reader,
  ReaderOptions,
  TopicPartition,
  TransactionalLoop,
  TransactionalOptions,
} from "./client.ts";
import { countHandled } from "./observe.ts";
import { GroupCommit, NotOwnedError, type Position, type Transactions } from "./group_commit.ts";
import {
  edgeOffsets,
  type FetchPosition,
  fetchRound,
  hasKafkaError,
} from "./platformatic_fetch.ts";
import { chunkRecords, type InRecord, type OutRecord } from "./records.ts";
import { ensureTopics, type TopicAdmin } from "./topics.ts";

/** What {@linkcode createPlatformaticClient} needs. */
export interface PlatformaticClientOptions {
  brokers: readonly string[];
  clientId: string;
  log: Logger;
  /** Longest wait for Kafka at start-up (producer init, group join). @default 600000 */
  startupTimeoutMs?: number;
}

/** Kafka errors after which an instance must not go on: another took its identity. */
const FATAL = [
  "PRODUCER_FENCED",
  "INVALID_PRODUCER_EPOCH",
  "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
  "FENCED_INSTANCE_ID",
];

/** Whether a platformatic error means this instance was fenced. */
function classify(error: unknown): ErrorKind {
  return hasKafkaError(error, ...FATAL) ? "fatal" : "retriable";
}

const key = (tp: TopicPartition) => `${tp.topic}/${tp.partition}`;

/** Partitions of one instance handled at once. */
const CONCURRENCY = 8;

/**
 * Creates the seam on @platformatic/kafka.
 *
 * @param options Brokers, client id, logger.
 * @returns The client; nothing is connected until used.
 */
export function createPlatformaticClient(options: PlatformaticClientOptions): KafkaClient {
  const base = { clientId: options.clientId, bootstrapBrokers: [...options.brokers] };
  const startupTimeoutMs = options.startupTimeoutMs ?? 600_000;
  const log = options.log.child("kafka");
  let admin: Admin | null = null;
  const adminOf = () => admin ??= new Admin({ ...base, retries: 3, retryDelay: 250 });

  const topicAdmin: TopicAdmin = {
    listTopics: () => adminOf().listTopics(),
    async createTopics(defs) {
      const created: string[] = [];
      for (const d of defs) {
        const done = await adminOf().createTopics({
          topics: [d.name],
          partitions: d.partitions,
          replicas: d.replicationFactor,
          configs: Object.entries(d.configs ?? {}).map(([name, value]) => ({ name, value })),
        });
        created.push(...done.map((t) => t.name));
      }
      return created;
    },
    isAlreadyExists: (error) => hasKafkaError(error, "TOPIC_ALREADY_EXISTS"),
    async leaders(names) {
      const metadata = await adminOf().metadata({ topics: [...names], forceUpdate: true });
      return new Map(
        [...metadata.topics].map(([name, t]) => [name, t.partitions.map((p) => p.leader)]),
      );
    },
  };

  async function listOffsets(topic: string, timestamp: bigint, committed: boolean) {
    const metadata = await adminOf().metadata({ topics: [topic] });
    const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
    const listed = await adminOf().listOffsets({
      topics: [{
        name: topic,
        partitions: Array.from({ length: count }, (_, i) => ({ partitionIndex: i, timestamp })),
      }],
      isolationLevel: committed
        ? FetchIsolationLevels.READ_COMMITTED
        : FetchIsolationLevels.READ_UNCOMMITTED,
    });
    return new Map(
      (listed.find((t) => t.name === topic)?.partitions ?? []).map((
        p,
      ) => [p.partitionIndex, p.offset]),
    );
  }

  return {
    name: "platformatic",
    ensureTopics: (defs, o) => ensureTopics(topicAdmin, defs, o),
    async endOffsets(topic) {
      const low = await listOffsets(topic, ListOffsetTimestamps.EARLIEST, false);
      const high = await listOffsets(topic, ListOffsetTimestamps.LATEST, false);
      return [...high].map(([partition, h]) => ({
        partition,
        low: String(low.get(partition) ?? 0n),
        high: String(h),
      }));
    },
    async groupOffsets(groupId, topic) {
      const groups = await adminOf().listConsumerGroupOffsets({ groups: [groupId] });
      const t = groups.find((g) => g.groupId === groupId)?.topics.find((x) => x.name === topic);
      return (t?.partitions ?? []).map((p) => ({
        partition: p.partitionIndex,
        offset: String(p.committedOffset),
      }));
    },
    async offsetsAtTime(topic, timestampMs) {
      const at = await listOffsets(topic, BigInt(timestampMs), true);
      const ends = await listOffsets(topic, ListOffsetTimestamps.LATEST, true);
      return [...ends].map(([partition, end]) => {
        const o = at.get(partition) ?? -1n;
        return { partition, offset: String(o < 0n ? end : o) };
      });
    },
    readRange: (topic, partition, from, to, onRecords, signal) =>
      readRange(
        base,
        topic,
        partition,
        BigInt(from),
        BigInt(to),
        onRecords,
        startupTimeoutMs,
        signal,
      ),
    async ping() {
      await adminOf().metadata({ topics: [], forceUpdate: true });
    },
    async describeTopic(topic) {
      const metadata = await adminOf().metadata({ topics: [topic], forceUpdate: true });
      return (metadata.topics.get(topic)?.partitions ?? []).map((p, partition) => ({
        partition,
        leader: p.leader,
        replicas: p.replicas,
        isr: p.isr,
      }));
    },
    producer: () => idempotentProducer(base),
    reader: (o) => platformaticReader(base, o, log),
    runTransactional: (o) => platformaticTransactional(base, o, startupTimeoutMs, adminOf),
    classify,
    async close() {
      await admin?.close().catch(() => {});
      admin = null;
    },
  };
}

type Base = { clientId: string; bootstrapBrokers: string[] };

function toMessages(records: readonly OutRecord[]) {
  return records.map((r) => ({
    topic: r.topic,
    key: r.key,
    value: r.value,
    ...(r.headers === undefined ? {} : { headers: r.headers }),
  }));
}

function idempotentProducer(base: Base): KafkaProducer {
  const producer = new Producer({
    ...base,
    idempotent: true,
    serializers: stringSerializers,
    // Keys go to the partition the Java client and kafkajs choose: every process agrees.
    partitioner: compatibilityPartitioner,
    // Bounded: the gateway answers 503 within its ack timeout rather than block for an outage.
    retries: 5,
    retryDelay: 200,
    timeout: 10_000,
  });
  return {
    async connect() {
      await producer.metadata({ topics: [] });
    },
    async send(records) {
      for (const chunk of chunkRecords(records)) {
        await producer.send({ messages: toMessages(chunk) });
      }
    },
    close: () => producer.close(),
  };
}

/** A consumer that is never in a group: it only fetches at positions this module keeps. */
function plainConsumer(base: Base): Consumer {
  const consumer = new Consumer({
    ...base,
    groupId: `despacho-reader-${crypto.randomUUID()}`,
    autocommit: false,
    retries: 3,
    retryDelay: 250,
  });
  consumer.on("error", () => {}); // errors reach the fetch calls; an unheard 'error' would crash
  return consumer;
}

async function readRange(
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

function platformaticReader(base: Base, options: ReaderOptions, log: Logger): Reader {
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
        positions.set(`${topic}/${p}`, { topic, partition: p, offset: start.get(p)! });
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
            at.offset = (await edgeOffsets(consumer, f.topic, [f.partition], "earliest")).get(
              f.partition,
            )!;
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

function platformaticTransactional(
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
  const makeProducer = () =>
    new Producer({
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
  let producer = makeProducer();

  const owned = new Map<string, Owned>();
  let generation = -1;
  const stopping = new AbortController();
  let wake: () => void = () => {};
  const running = new Set<Promise<void>>();
  let fail: (error: unknown) => void = () => {};
  const fatal = new Promise<never>((_, reject) => (fail = reject));
  fatal.catch(() => {});

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
            });
          }
        },
        commit: () => tx.commit(),
        async abort() {
          await tx.abort().catch(() => tx.cancel());
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
    onFatal: (e) => fail(e),
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

  /** Where each newly owned partition starts: the group's committed offset, once stable. */
  async function resolvePositions(gen: number): Promise<void> {
    for (let attempt = 1; gen === generation && !stopping.signal.aborted; attempt++) {
      try {
        const wanted = [...owned.values()];
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
    const task = handle({ topic: o.topic, partition: o.partition, records }, ctx).catch(
      async (error) => {
        if (owned.get(key(o)) !== o) return; // revoked meanwhile: the new owner takes it from here
        log.warn("batch failed; reading it again from the last commit", {
          topic: o.topic,
          partition: o.partition,
          error,
        });
        o.position = o.resumeFrom;
        await abortableSleep(1_000, signal).catch(() => {});
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
      if (classify(error) === "fatal") fail(error);
      else log.warn("consumer error", { error });
    });
    consumer.on("consumer:group:join", (p) => {
      if (p.generationId !== undefined) assign(p.generationId, p.assignments ?? []);
    });
    // Initialise the producer id first: it fences an earlier instance of this one.
    await waitFor("the transactional producer to initialise", async () => {
      try {
        const tx = await producer.beginTransaction();
        await tx.cancel();
      } catch (error) {
        if (classify(error) === "fatal") return { ready: false, fatal: error as Error };
        await transactions.reset();
        throw error;
      }
      return { ready: true, value: undefined };
    }, {
      timeoutMs: startupTimeoutMs,
      intervalMs: 1000,
      progressMs: 10_000,
      say: (l) => log.info(l),
      signal: stopping.signal,
    });
    consumer.topics.trackAll(...topics);
    await waitFor("this instance to join its consumer group", async () => {
      await consumer.joinGroup({
        groupInstanceId: options.instanceId,
        sessionTimeout,
        rebalanceTimeout: Math.max(60_000, sessionTimeout),
        heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeout / 3)),
      });
      return { ready: true, value: undefined };
    }, {
      timeoutMs: startupTimeoutMs,
      intervalMs: 1000,
      progressMs: 10_000,
      say: (l) => log.info(l),
      signal: stopping.signal,
    });
    assign(consumer.generationId, consumer.assignments ?? []);
    void fetchLoop();
    log.info("consuming", { groupId, transactionalId, topics, client: "platformatic" });
  })();

  let stopped: () => void = () => {};
  const done = Promise.race([
    fatal,
    ready.then(() => new Promise<void>(() => {}), (error) => Promise.reject(error)),
    new Promise<void>((resolve) => (stopped = resolve)),
  ]);
  done.catch(() => {});
  let stopping_: Promise<void> | null = null;

  return {
    ready,
    done,
    assigned: () => [...owned.values()].map((o) => ({ topic: o.topic, partition: o.partition })),
    publish(records, position) {
      if (position === undefined) return commits.commit(records, null);
      const o = owned.get(key(position));
      if (o === undefined) return Promise.reject(new NotOwnedError(position));
      return commits.commit(records, { ...position, generation: o.generation });
    },
    stop() {
      stopping_ ??= (async () => {
        stopping.abort();
        wake();
        await ready.catch(() => {});
        await Promise.allSettled([...running]);
        await commits.drain();
        // Leaves the group (a static member too): the partitions move at once.
        await consumer.close(true).catch(() => {});
        await producer.close().catch(() => {});
        stopped();
      })();
      return stopping_;
    },
  };
}

/**
 * The group's offsets for `offsets` (the next offset to read, per partition) committed in the
 * producer's open transaction with one TxnOffsetCommit request to the group coordinator, with the
 * library's retries. The transaction must have the group added already (AddOffsetsToTxn).
 */
function commitOffsets(
  producer: Producer<string, string, string, string>,
  consumer: Consumer,
  request: {
    transactionalId: string;
    groupId: string;
    generationId: number;
    groupInstanceId: string;
    offsets: readonly Position[];
  },
): Promise<void> {
  const byTopic = Map.groupBy(request.offsets, (o) => o.topic);
  // The library's internal client API (exported symbols): callback style throughout.
  type Callback<T> = (error: Error | null, value?: T) => void;
  type Internal = {
    [kMetadata](
      o: { topics: string[] },
      cb: Callback<{
        brokers: Map<number, unknown>;
        topics: Map<string, { partitions: { leaderEpoch: number }[] }>;
      }>,
    ): void;
    [kGetConnection](broker: unknown, cb: Callback<unknown>): void;
    [kGetApi](name: string, cb: Callback<(...args: unknown[]) => void>): void;
    [kPerformWithRetry](
      id: string,
      op: (retry: Callback<unknown>) => void,
      cb: Callback<unknown>,
    ): void;
  };
  const client = producer as unknown as Internal;
  return new Promise((resolve, reject) => {
    client[kPerformWithRetry]("commit", (retry) => {
      client[kMetadata]({ topics: [...byTopic.keys()] }, (error, metadata) => {
        if (error || metadata === undefined) return retry(error);
        client[kGetConnection](
          metadata.brokers.get(consumer.coordinatorId ?? -1),
          (error, connection) => {
            if (error) return retry(error);
            client[kGetApi]("TxnOffsetCommit", (error, api) => {
              if (error || api === undefined) return retry(error);
              api(
                connection,
                request.transactionalId,
                request.groupId,
                producer.producerId,
                producer.producerEpoch,
                request.generationId,
                consumer.memberId,
                request.groupInstanceId,
                [...byTopic].map(([name, list]) => ({
                  name,
                  partitions: list.map((o) => ({
                    partitionIndex: o.partition,
                    committedOffset: BigInt(o.offset),
                    committedLeaderEpoch:
                      metadata.topics.get(name)?.partitions[o.partition]?.leaderEpoch ?? -1,
                  })),
                })),
                (error: Error | null) => retry(error),
              );
            });
          },
        );
      });
    }, (error) => (error ? reject(error) : resolve()));
  });
}
