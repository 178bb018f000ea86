/**
 * The topics Despacho uses, derived from configuration, and their creation.
 */
import type { Admin, ITopicConfig } from "kafkajs";
import type { Config } from "./config.ts";

/** A topic Despacho may create: name, partitions, and topic-level configs. */
export interface TopicDef {
  name: string;
  partitions: number;
  replicationFactor: number;
  configs?: Record<string, string>;
}

/**
 * The order pipeline's topics (the seed's three plus the dead-letter topic).
 *
 * @param config Names, partitions and replication.
 * @returns One definition per topic.
 */
export function orderTopics(config: Config): TopicDef[] {
  const base = {
    partitions: config.TOPIC_PARTITIONS,
    replicationFactor: config.TOPIC_REPLICATION_FACTOR,
  };
  return [
    { name: config.TOPIC_ORDER_REQUESTS, ...base },
    { name: config.TOPIC_ORDER_PROCESSING, ...base },
    { name: config.TOPIC_ORDER_NOTIFICATIONS, ...base },
    { name: config.TOPIC_DEAD_LETTER, ...base },
  ];
}

/**
 * The purchase-analytics topics. The state topic is compacted: it keeps the latest checkpoint
 * per key.
 *
 * @param config Names, partitions and replication.
 * @returns One definition per topic.
 */
export function purchaseTopics(config: Config): TopicDef[] {
  const base = {
    partitions: config.TOPIC_PARTITIONS,
    replicationFactor: config.TOPIC_REPLICATION_FACTOR,
  };
  return [
    { name: config.TOPIC_PURCHASES, ...base },
    { name: config.TOPIC_PURCHASE_NOTIFICATIONS, ...base },
    { name: config.TOPIC_PURCHASE_ANALYTICS, ...base },
    {
      name: config.TOPIC_PURCHASE_STATE,
      ...base,
      // Small segments so that compaction keeps the topic near one checkpoint per partition.
      configs: {
        "cleanup.policy": "compact",
        "segment.bytes": String(8 * 1024 * 1024),
        "segment.ms": "600000",
        "min.cleanable.dirty.ratio": "0.1",
      },
    },
    { name: config.TOPIC_DEAD_LETTER, ...base },
  ];
}

/**
 * Creates the topics that do not exist yet (existing ones are left as they are), then waits until
 * every partition of every wanted topic has a leader — also when another process created them
 * at the same moment, as every role does on a fresh cluster.
 *
 * @param admin A connected kafkajs admin client.
 * @param defs The topics wanted.
 * @param timeoutMs Longest wait for leaders.
 * @returns The names of the topics this call created.
 * @throws {Error} When creation fails for another reason than "already exists", or leaders do not
 * appear in time.
 */
export async function ensureTopics(
  admin: Admin,
  defs: readonly TopicDef[],
  timeoutMs = 30_000,
): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const unique = [...new Map(defs.map((d) => [d.name, d])).values()];
  const missing = unique.filter((d) => !existing.has(d.name));
  let created: string[] = [];
  if (missing.length > 0) {
    const topics: ITopicConfig[] = missing.map((d) => ({
      topic: d.name,
      numPartitions: d.partitions,
      replicationFactor: d.replicationFactor,
      configEntries: Object.entries(d.configs ?? {}).map(([name, value]) => ({ name, value })),
    }));
    try {
      // kafkajs answers false (rather than failing) when the topics already exist.
      if (await admin.createTopics({ topics, waitForLeaders: true })) {
        created = missing.map((d) => d.name);
      }
    } catch (error) {
      if (!onlyAlreadyExists(error)) throw error;
    }
  }
  await waitForLeaders(admin, unique.map((d) => d.name), timeoutMs);
  return created;
}

/** Whether a createTopics failure only says that (some of) the topics exist already. */
function onlyAlreadyExists(error: unknown): boolean {
  const inner = (error as { errors?: { type?: string }[] } | null)?.errors;
  if (Array.isArray(inner) && inner.length > 0) {
    return inner.every((e) => e.type === "TOPIC_ALREADY_EXISTS");
  }
  return error instanceof Error && /already exists/i.test(error.message);
}

async function waitForLeaders(admin: Admin, names: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: names });
      const ready = topics.length === names.length &&
        topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
      if (ready) return;
    } catch { /* not known to the broker yet */ }
    if (Date.now() > deadline) {
      throw new Error(
        `Cannot use topics ${
          names.join(", ")
        }: no leader for every partition after ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
