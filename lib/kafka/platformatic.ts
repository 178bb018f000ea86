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
 * This file holds the client (admin, idempotent producer, plain readers); the transactional loop
 * is in `platformatic_transactional.ts`. Records come from `platformatic_fetch.ts` (positions kept
 * by the seam, not the library's stream). The
 * group uses the classic protocol: the new one (KIP-848) refuses transactional offset commits from
 * this client (it sends no member epoch), so it is not used.
 */
import {
  Admin,
  compatibilityPartitioner,
  Consumer,
  FetchIsolationLevels,
  ListOffsetTimestamps,
  Producer,
  stringSerializers,
} from "@platformatic/kafka";
import type { Logger } from "../log.ts";
import { abortableSleep } from "../retry.ts";
import { waitFor } from "../wait.ts";
import type { KafkaClient, KafkaProducer, Reader, ReaderOptions } from "./client.ts";
import {
  edgeOffsets,
  type FetchPosition,
  fetchRound,
  hasKafkaError,
} from "./platformatic_fetch.ts";
import { chunkRecords, type InRecord } from "./records.ts";
import { type Base, classify, securityOptions, toMessages } from "./_platformatic_shared.ts";
import { type AclBinding, aclCodes, aclFromCodes, READER_GROUP_PREFIXES } from "./acls.ts";
import type { KafkaSecurity } from "../config.ts";
import { platformaticTransactional } from "./platformatic_transactional.ts";
import { ensureTopics, type TopicAdmin } from "./topics.ts";

/** What {@linkcode createPlatformaticClient} needs. */
export interface PlatformaticClientOptions {
  brokers: readonly string[];
  clientId: string;
  log: Logger;
  /** Longest wait for Kafka at start-up (producer init, group join). @default 600000 */
  startupTimeoutMs?: number;
  /** TLS and SASL. @default {} (PLAINTEXT) */
  security?: KafkaSecurity;
}

/**
 * Creates the seam on @platformatic/kafka.
 *
 * @param options Brokers, client id, logger.
 * @returns The client; nothing is connected until used.
 */
export function createPlatformaticClient(options: PlatformaticClientOptions): KafkaClient {
  const base: Base = {
    clientId: options.clientId,
    bootstrapBrokers: [...options.brokers],
    ...securityOptions(options.security ?? {}),
  };
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
    async createAcls(bindings) {
      if (bindings.length === 0) return;
      // The library's types name each code's own union; Kafka's numbers are the same.
      await adminOf().createAcls({ creations: bindings.map(aclCodes) as never });
    },
    async describeAcls(principal) {
      const found = await adminOf().describeAcls({
        filter: {
          resourceType: 1, // ANY
          resourceName: null,
          resourcePatternType: 1, // ANY
          principal,
          host: null,
          operation: 1, // ANY
          permissionType: 1, // ANY
        } as never,
      });
      return found.flatMap((r) =>
        r.acls.map((a) =>
          aclFromCodes({
            resourceType: r.resourceType,
            resourceName: r.resourceName,
            resourcePatternType: r.resourcePatternType,
            principal: a.principal,
            operation: a.operation,
            permissionType: a.permissionType,
          })
        ).filter((b): b is AclBinding => b !== undefined)
      );
    },
    classify,
    async close() {
      await admin?.close().catch(() => {});
      admin = null;
    },
  };
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
    groupId: `${READER_GROUP_PREFIXES[0]}${crypto.randomUUID()}`,
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
