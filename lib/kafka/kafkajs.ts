/**
 * The seam on npm `kafkajs` 2.2.4 (the design card's client). What it cannot do, and so what this
 * implementation does not promise: it sends no consumer-group generation with transactional offsets
 * (no KIP-447), so exactly-once holds across a crash and restart with the same transactional id,
 * but not while partitions move between two live instances; and it has no static membership
 * (KIP-345), so a killed worker's partitions wait for its session to time out.
 */
import {
  type Admin,
  type Batch,
  type Consumer,
  type IHeaders,
  Kafka,
  type KafkaConfig,
  type KafkaMessage,
  logLevel,
  Partitioners,
  type Producer,
} from "kafkajs";
import type { KafkaSecurity } from "../config.ts";
import type { Logger } from "../log.ts";
import { waitFor } from "../wait.ts";
import { type AclBinding, aclCodes, aclFromCodes, READER_GROUP_PREFIXES } from "./acls.ts";
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
import { loopLifecycle } from "./loop_lifecycle.ts";
import { GroupCommit, NotOwnedError, type Position, type Transactions } from "./group_commit.ts";
import { chunkRecords, type InBatch, type InRecord, type Outgoing } from "./records.ts";
import { ensureTopics, type TopicAdmin } from "./topics.ts";

/** What {@linkcode createKafkajsClient} needs. */
export interface KafkajsClientOptions {
  brokers: readonly string[];
  clientId: string;
  log: Logger;
  /** Longest wait for Kafka at start-up (producer init, group join). @default 600000 */
  startupTimeoutMs?: number;
  /** TLS and SASL. @default {} (PLAINTEXT) */
  security?: KafkaSecurity;
}

/** kafkajs's `ssl` and `sasl` options for `security` (its mechanism names are lower case). */
function securityOptions(security: KafkaSecurity): KafkaConfig {
  const sasl = security.sasl;
  return {
    ...(security.tls ? { ssl: { ...security.tls, rejectUnauthorized: true } } : {}),
    ...(sasl
      ? {
        sasl: sasl.mechanism === "PLAIN"
          ? { mechanism: "plain", username: sasl.username, password: sasl.password }
          : sasl.mechanism === "SCRAM-SHA-256"
          ? { mechanism: "scram-sha-256", username: sasl.username, password: sasl.password }
          : { mechanism: "scram-sha-512", username: sasl.username, password: sasl.password },
      }
      : {}),
  } as KafkaConfig;
}

const KAFKAJS_LEVEL: Record<number, "debug" | "info" | "warn" | "error"> = {
  [logLevel.DEBUG]: "debug",
  [logLevel.INFO]: "info",
  [logLevel.WARN]: "warn",
  [logLevel.ERROR]: "warn", // kafkajs logs retriable broker errors as ERROR; our retries decide.
};

/** kafkajs error types after which an instance must not go on: another took its identity. */
const FATAL_TYPES = new Set([
  "INVALID_PRODUCER_EPOCH",
  "PRODUCER_FENCED",
  "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
]);

/**
 * Creates the seam on kafkajs.
 *
 * @param options Brokers, client id, logger.
 * @returns The client; nothing is connected until used.
 */
export function createKafkajsClient(options: KafkajsClientOptions): KafkaClient {
  const klog = options.log.child("kafka");
  const startupTimeoutMs = options.startupTimeoutMs ?? 600_000;
  const kafka = new Kafka({
    ...securityOptions(options.security ?? {}),
    clientId: options.clientId,
    brokers: [...options.brokers],
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    logLevel: logLevel.WARN,
    logCreator: () => ({ level, log: entry }) => {
      const { message, timestamp: _t, logger: _l, ...rest } = entry;
      klog[KAFKAJS_LEVEL[level] ?? "info"](message, rest);
    },
  });

  let admin: Admin | null = null;
  /** A connected admin client, made anew after a failure. */
  async function withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
    const a = admin ??= kafka.admin();
    try {
      await a.connect();
      return await use(a);
    } catch (error) {
      if (admin === a) admin = null;
      await a.disconnect().catch(() => {});
      throw error;
    }
  }

  const topicAdmin: TopicAdmin = {
    listTopics: () => withAdmin((a) => a.listTopics()),
    createTopics: (defs) =>
      withAdmin(async (a) => {
        // kafkajs answers false (rather than failing) when the topics already exist.
        const created = await a.createTopics({
          topics: defs.map((d) => ({
            topic: d.name,
            numPartitions: d.partitions,
            replicationFactor: d.replicationFactor,
            configEntries: Object.entries(d.configs ?? {}).map(([name, value]) => ({
              name,
              value,
            })),
          })),
          waitForLeaders: false,
        });
        return created ? defs.map((d) => d.name) : [];
      }),
    isAlreadyExists(error) {
      const inner = (error as { errors?: { type?: string }[] } | null)?.errors;
      if (Array.isArray(inner) && inner.length > 0) {
        return inner.every((e) => e.type === "TOPIC_ALREADY_EXISTS");
      }
      return error instanceof Error && /already exists/i.test(error.message);
    },
    leaders: (names) =>
      withAdmin(async (a) => {
        const { topics } = await a.fetchTopicMetadata({ topics: [...names] });
        return new Map(topics.map((t) => [t.name, t.partitions.map((p) => p.leader)]));
      }),
  };

  return {
    name: "kafkajs",
    ensureTopics: (defs, o) => ensureTopics(topicAdmin, defs, o),
    endOffsets: (topic) =>
      withAdmin(async (a) =>
        (await a.fetchTopicOffsets(topic)).map((p) => ({
          partition: p.partition,
          low: p.low,
          high: p.high,
        }))
      ),
    groupOffsets: (groupId, topic) =>
      withAdmin(async (a) =>
        (await a.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions.map((p) => ({
          partition: p.partition,
          offset: p.offset,
        })) ?? []
      ),
    offsetsAtTime: (topic, timestampMs) =>
      withAdmin(async (a) =>
        (await a.fetchTopicOffsetsByTimestamp(topic, timestampMs)).map((p) => ({
          partition: p.partition,
          offset: p.offset,
        }))
      ),
    readRange: (topic, partition, from, to, onRecords, signal) =>
      kafkajsRange(kafka, { topic, partition, from, to }, onRecords, startupTimeoutMs, signal),
    ping: () => withAdmin(async (a) => void await a.describeCluster()),
    createAcls: (bindings) =>
      withAdmin(async (a) => {
        // kafkajs's enums are Kafka's protocol numbers.
        if (bindings.length > 0) await a.createAcls({ acl: bindings.map(aclCodes) as never });
      }),
    describeAcls: (principal) =>
      withAdmin(async (a) => {
        const found = await a.describeAcls(
          {
            resourceType: 1, // ANY
            resourcePatternType: 1, // ANY
            principal,
            operation: 1, // ANY
            permissionType: 1, // ANY
          } as never,
        );
        return found.resources.flatMap((r) =>
          r.acls.map((acl) =>
            aclFromCodes({
              resourceType: r.resourceType,
              resourceName: r.resourceName,
              resourcePatternType: r.resourcePatternType,
              principal: acl.principal,
              operation: acl.operation,
              permissionType: acl.permissionType,
            })
          ).filter((b): b is AclBinding => b !== undefined)
        );
      }),
    describeTopic: (topic) =>
      withAdmin(async (a) => {
        const { topics } = await a.fetchTopicMetadata({ topics: [topic] });
        return (topics[0]?.partitions ?? []).map((p) => ({
          partition: p.partitionId,
          leader: p.leader,
          replicas: p.replicas,
          isr: p.isr,
        })).sort((x, y) => x.partition - y.partition);
      }),
    producer: () => kafkajsProducer(kafka),
    reader: (o) => kafkajsReader(kafka, o, klog),
    runTransactional: (o) => kafkajsTransactional(kafka, o, startupTimeoutMs),
    classify,
    async close() {
      await admin?.disconnect().catch(() => {});
      admin = null;
    },
  };
}

/** Whether a kafkajs error means this instance was fenced (its cause chain is searched). */
function classify(error: unknown): ErrorKind {
  for (let e = error, depth = 0; e !== null && typeof e === "object" && depth < 5; depth++) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === "string" && FATAL_TYPES.has(type)) return "fatal";
    e = (e as { originalError?: unknown; cause?: unknown }).originalError ??
      (e as { cause?: unknown }).cause;
  }
  return "retriable";
}

function kafkajsProducer(kafka: Kafka): KafkaProducer {
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
  });
  return {
    connect: () => producer.connect(),
    async send(records) {
      for (const chunk of chunkRecords(records)) await producer.sendBatch(batchOf(chunk));
    },
    close: () => producer.disconnect(),
  };
}

/** One produce request: records grouped by topic, acks=all. */
function batchOf(records: readonly Outgoing[]) {
  const byTopic = new Map<
    string,
    { key: string; value: string | null; headers?: Record<string, string> }[]
  >();
  for (const r of records) {
    let list = byTopic.get(r.topic);
    if (list === undefined) byTopic.set(r.topic, list = []);
    list.push(
      r.headers === undefined
        ? { key: r.key, value: r.value }
        : { key: r.key, value: r.value, headers: r.headers },
    );
  }
  return {
    acks: -1,
    topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
  };
}

function headersOf(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const last = Array.isArray(value) ? value.at(-1) : value;
    if (last !== undefined) out[name] = last.toString();
  }
  return out;
}

function toInRecord(topic: string, partition: number, m: KafkaMessage): InRecord {
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

function toInBatch(batch: Batch): InBatch {
  return {
    topic: batch.topic,
    partition: batch.partition,
    records: batch.messages.map((m) => toInRecord(batch.topic, batch.partition, m)),
  };
}

function kafkajsReader(kafka: Kafka, options: ReaderOptions, log: Logger): Reader {
  const consumer: Consumer = kafka.consumer({
    groupId: `${READER_GROUP_PREFIXES[0]}${crypto.randomUUID()}`,
    readUncommitted: false,
    maxWaitTimeInMs: options.maxWaitMs ?? 100,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
  });
  let joined = false;
  const ready = new Promise<void>((resolve) =>
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true;
      resolve();
    })
  );
  consumer.on(consumer.events.CRASH, () => (joined = false));
  const startAt = options.startAt;
  if (startAt !== undefined) {
    // Seeks before the first fetch of the assignment: the partitions named start where asked.
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
        for (const partition of partitions) {
          const offset = startAt(topic, partition);
          if (offset !== undefined) consumer.seek({ topic, partition, offset });
        }
      }
    });
  }
  const started = (async () => {
    await consumer.connect();
    await consumer.subscribe({
      topics: [...options.topics],
      fromBeginning: (options.from ?? "beginning") === "beginning",
    });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        try {
          await options.onBatch(toInBatch(batch));
        } catch (error) {
          log.warn("reader: a batch handler failed", { topic: batch.topic, error });
        }
      },
    });
  })();
  return {
    ready: started.then(() => ready),
    running: () => joined,
    async stop() {
      await started.catch(() => {});
      await consumer.disconnect();
    },
  };
}

async function kafkajsRange(
  kafka: Kafka,
  range: { topic: string; partition: number; from: string; to: string },
  onRecords: (records: readonly InRecord[]) => void,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const { topic, partition, from, to } = range;
  const start = BigInt(from);
  const end = BigInt(to);
  if (start >= end) return;
  signal?.throwIfAborted();
  const consumer = kafka.consumer({
    groupId: `${READER_GROUP_PREFIXES[1]}${crypto.randomUUID()}`,
    readUncommitted: false,
    maxWaitTimeInMs: 100,
  });
  // The position reached: the last offset of each fetched batch of the partition, transaction
  // markers and aborted records included (kafkajs's `Batch.lastOffset()` counts them).
  let reached = false;
  const passed = (offset: string) => {
    if (BigInt(offset) >= end - 1n) reached = true;
  };
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    // Only the wanted partition, from the wanted offset.
    const others = (payload.memberAssignment[topic] ?? []).filter((p) => p !== partition);
    if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
    consumer.seek({ topic, partition, offset: from });
  });
  // A fetch whose records are all markers or aborted records never reaches eachBatch, but kafkajs
  // still reports its batch here (with the offset it skipped to): without this, a range ending in
  // a commit marker or an aborted transaction would never be seen to end.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (payload.topic === topic && payload.partition === partition) passed(payload.lastOffset);
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: ({ batch }) => {
        if (batch.partition !== partition || reached) return Promise.resolve();
        const records = batch.messages.filter((m) => {
          const o = BigInt(m.offset);
          return o >= start && o < end;
        }).map((m) => toInRecord(batch.topic, batch.partition, m));
        if (records.length > 0) onRecords(records);
        passed(batch.lastOffset());
        return Promise.resolve();
      },
    });
    await waitFor(
      `${topic}/${partition} to be read from ${from} to ${to}`,
      () => Promise.resolve(reached ? { ready: true, value: undefined } : { ready: false }),
      { timeoutMs, intervalMs: 20, ...(signal ? { signal } : {}) },
    );
  } finally {
    await consumer.disconnect();
  }
}

function kafkajsTransactional(
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
  let joins = 0;

  const ready = (async () => {
    // Initialise the producer id first: it fences an earlier instance of this one.
    await waitFor("the transactional producer to initialise", async () => {
      await transactions.begin().then((tx) => tx.abort());
      return { ready: true, value: undefined };
    }, {
      timeoutMs: startupTimeoutMs,
      intervalMs: 1000,
      progressMs: 10_000,
      say: (l) => log.info(l),
      signal: stopping.signal,
    });
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
    await waitFor("this instance to join its consumer group", () =>
      Promise.resolve(
        joins > 0 ? { ready: true, value: undefined } : { ready: false, why: `group ${groupId}` },
      ), {
      timeoutMs: startupTimeoutMs,
      intervalMs: 100,
      progressMs: 10_000,
      say: (l) => log.info(l),
      signal: stopping.signal,
    });
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

function offsetTopics(offsets: readonly Position[]) {
  const byTopic = new Map<string, { partition: number; offset: string }[]>();
  for (const o of offsets) {
    let list = byTopic.get(o.topic);
    if (list === undefined) byTopic.set(o.topic, list = []);
    list.push({ partition: o.partition, offset: o.offset });
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}
