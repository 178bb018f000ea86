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
 * Creates the topics that do not exist yet; existing ones are left as they are.
 *
 * @param admin A connected kafkajs admin client.
 * @param defs The topics wanted.
 * @returns The names of the topics it created.
 */
export async function ensureTopics(admin: Admin, defs: readonly TopicDef[]): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const unique = [...new Map(defs.map((d) => [d.name, d])).values()];
  const missing = unique.filter((d) => !existing.has(d.name));
  if (missing.length === 0) return [];
  const topics: ITopicConfig[] = missing.map((d) => ({
    topic: d.name,
    numPartitions: d.partitions,
    replicationFactor: d.replicationFactor,
    configEntries: Object.entries(d.configs ?? {}).map(([name, value]) => ({ name, value })),
  }));
  try {
    await admin.createTopics({ topics, waitForLeaders: true });
  } catch (error) {
    // Another process may have created them between listTopics and createTopics.
    if (!(error instanceof Error && /already exists/i.test(error.message))) throw error;
  }
  return missing.map((d) => d.name);
}
