/**
 * The topics Despacho uses, derived from configuration, and their creation on any client.
 */
import type { Config } from "../config.ts";
import { waitFor } from "../wait.ts";

/** A topic Despacho may create: name, partitions, and topic-level configs. */
export interface TopicDef {
  name: string;
  partitions: number;
  replicationFactor: number;
  configs?: Record<string, string>;
}

/** Every topic's partitions and replication, as configured. */
function sizing(config: Config): Pick<TopicDef, "partitions" | "replicationFactor"> {
  return {
    partitions: config.TOPIC_PARTITIONS,
    replicationFactor: config.TOPIC_REPLICATION_FACTOR,
  };
}

/**
 * What a topic holding personal data (names, addresses, what someone bought) keeps, and for how
 * long: `retention.ms` set on purpose (`PERSONAL_DATA_RETENTION_MS`), not left to the broker's
 * default.
 */
function personal(config: Config): Record<string, string> {
  return { "retention.ms": String(config.PERSONAL_DATA_RETENTION_MS) };
}

/**
 * The order pipeline's topics (the seed's three plus the dead-letter topic). Each holds personal
 * data (a request and every transition carry the order with its address; an outcome names its
 * recipient; a dead letter keeps its record), so each keeps it for `PERSONAL_DATA_RETENTION_MS`.
 *
 * @param config Names, partitions and replication.
 * @returns One definition per topic.
 */
export function orderTopics(config: Config): TopicDef[] {
  const base = sizing(config);
  const configs = personal(config);
  return [
    { name: config.TOPIC_ORDER_REQUESTS, ...base, configs },
    { name: config.TOPIC_ORDER_PROCESSING, ...base, configs },
    { name: config.TOPIC_ORDER_NOTIFICATIONS, ...base, configs },
    { name: config.TOPIC_MAIL_RETRIES, ...base, configs },
    { name: config.TOPIC_DEAD_LETTER, ...base, configs },
    {
      name: config.TOPIC_ORDER_STATUS,
      ...base,
      // Compacted: only the latest value of each key matters (lib/order_status.ts). And deleted
      // once older than ORDER_STATUS_RETENTION_MS: an order's facts are written once, when it moves
      // or is mailed, so a finished order leaves the topic that long after it finished (the
      // personal data it holds with it); gateways prune their stores by the same rule.
      configs: {
        "cleanup.policy": "compact,delete",
        "retention.ms": String(config.ORDER_STATUS_RETENTION_MS),
        "segment.bytes": String(64 * 1024 * 1024),
        "segment.ms": "3600000",
        "min.cleanable.dirty.ratio": "0.2",
        "delete.retention.ms": "86400000",
      },
    },
    {
      name: config.TOPIC_ORDER_ERASURES,
      ...base,
      // Compacted and never deleted: every reader honours an erasure also when it replays history
      // or rebuilds a store, so the request must outlive every record of the order. It holds an
      // order id and a time, nothing personal.
      configs: { "cleanup.policy": "compact" },
    },
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
  const base = sizing(config);
  const configs = personal(config);
  return [
    { name: config.TOPIC_PURCHASES, ...base, configs },
    { name: config.TOPIC_PURCHASE_NOTIFICATIONS, ...base, configs },
    // Windows and totals: counts per product and country, no person.
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
    { name: config.TOPIC_DEAD_LETTER, ...base, configs },
  ];
}

/**
 * The topics of purchase mail, which the notification role reads and writes: the notifications
 * it mails (written by purchase-analytics), the mails still owed, and their outcomes.
 *
 * @param config Names, partitions and replication.
 * @returns One definition per topic.
 */
export function purchaseMailTopics(config: Config): TopicDef[] {
  const base = sizing(config);
  const configs = personal(config);
  return [
    { name: config.TOPIC_PURCHASE_NOTIFICATIONS, ...base, configs },
    { name: config.TOPIC_PURCHASE_MAIL_RETRIES, ...base, configs },
    // Outcomes carry ids and folios, no address, name or text.
    { name: config.TOPIC_PURCHASE_MAIL, ...base },
  ];
}

/**
 * Every topic Despacho uses, each once (the dead-letter and purchase-notification topics belong to
 * two of the lists above): what the gateway creates, an admin provisions and the AsyncAPI
 * document describes.
 *
 * @param config Names, partitions and replication.
 * @returns One definition per topic name, the first list's where two lists name it.
 */
export function despachoTopics(config: Config): TopicDef[] {
  const byName = new Map<string, TopicDef>();
  for (
    const d of [...orderTopics(config), ...purchaseTopics(config), ...purchaseMailTopics(config)]
  ) {
    if (!byName.has(d.name)) byName.set(d.name, d);
  }
  return [...byName.values()];
}

/** What {@linkcode ensureTopics} needs of a client's admin API. */
export interface TopicAdmin {
  /** Names of the topics that exist. */
  listTopics(): Promise<string[]>;
  /**
   * Creates topics; answers the names it created. May fail because some exist already (see
   * `isAlreadyExists`).
   */
  createTopics(defs: readonly TopicDef[]): Promise<string[]>;
  /** Whether a `createTopics` failure only says that (some of) the topics exist already. */
  isAlreadyExists(error: unknown): boolean;
  /** Each known topic's partition leaders (-1: none yet); unknown topics are absent. */
  leaders(names: readonly string[]): Promise<Map<string, number[]>>;
}

/** Options of {@linkcode ensureTopics}. */
export interface EnsureOptions {
  /** Longest wait in all. */
  timeoutMs: number;
  /** Progress while it waits. */
  say?: (line: string) => void;
  signal?: AbortSignal;
  /** Pause between tries, in ms. @default 250 */
  intervalMs?: number;
}

/**
 * Creates the topics that do not exist yet (existing ones are left as they are), then waits until
 * every partition of every wanted topic has a leader — also when another process created them at
 * the same moment, as every role does on a fresh cluster. A refusal of a slow or restarting
 * cluster (a timed-out request, too few brokers yet for the replication factor) is tried again
 * until `timeoutMs`.
 *
 * @param admin The client's admin operations.
 * @param defs The topics wanted.
 * @param options Ceiling and progress.
 * @returns The names of the topics this call created.
 * @throws {WaitTimeoutError} When the topics are not all led within `timeoutMs`, with the reason.
 */
export async function ensureTopics(
  admin: TopicAdmin,
  defs: readonly TopicDef[],
  options: EnsureOptions,
): Promise<string[]> {
  const unique = [...new Map(defs.map((d) => [d.name, d])).values()];
  const names = unique.map((d) => d.name);
  const created = new Set<string>();
  await waitFor(
    `topics ${names.join(", ")} to have a leader for every partition`,
    async () => {
      const existing = new Set(await admin.listTopics());
      const missing = unique.filter((d) => !existing.has(d.name));
      if (missing.length > 0) {
        try {
          for (const name of await admin.createTopics(missing)) created.add(name);
        } catch (error) {
          if (!admin.isAlreadyExists(error)) throw error;
        }
      }
      const leaders = await admin.leaders(names);
      const led = names.filter((n) => {
        const parts = leaders.get(n);
        return parts !== undefined && parts.length > 0 && parts.every((l) => l >= 0);
      });
      return led.length === names.length
        ? { ready: true, value: undefined }
        : { ready: false, why: `${led.length} of ${names.length} topics led` };
    },
    {
      timeoutMs: options.timeoutMs,
      intervalMs: options.intervalMs ?? 250,
      progressMs: 10_000,
      ...(options.say ? { say: options.say } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    },
  );
  return [...created];
}
