/**
 * `worker --role purchase-analytics`: the second seed's stream. Parses each purchase event (or
 * dead-letters it), lets the pure decision of lib/purchase_analytics.ts classify, window and
 * notify, prints the notifications, and commits the decision's records with the input offset in
 * one Kafka transaction. The notification role mails each notification from
 * `purchase_notifications`, with the retries and published outcomes of order mail.
 *
 * Exactly once across crashes: per input partition, the window state and totals are checkpointed
 * to the compacted `purchase_analytics_state` topic in the same transaction as the batch's
 * notifications, closed windows and input offset, so the latest checkpoint describes exactly the
 * committed position. Console output is at least once.
 *
 * State follows partitions: after any assignment change every partition is restored from its
 * checkpoint (one that moved away and came back may have been processed elsewhere meanwhile);
 * state is adopted only once its transaction committed, and a partition whose commit failed is
 * restored again. Publishing for a partition (a batch, or the idle flush of its windows) names its
 * position, so it is refused once the partition is no longer this instance's.
 */
import { purchaseWindowsClosed } from "../lib/metrics.ts";
import process from "node:process";
import type { Config } from "../lib/config.ts";
import type {
  BatchContext,
  InBatch,
  KafkaClient,
  TopicPartition,
  TransactionalLoop,
} from "../lib/kafka/mod.ts";
import type { Logger } from "../lib/log.ts";
import { purchaseEvent, type PurchaseNotified, PurchaseSchema } from "../lib/purchase.ts";
import {
  analysePurchases,
  type AnalyticsSettings,
  flushIdle,
  isIdle,
  type PartitionAnalytics,
  type PurchaseBatchEntry,
  resumePartition,
} from "../lib/purchase_analytics.ts";
import { restoreCheckpoints, type RestoredCheckpoints } from "../lib/purchase_checkpoint.ts";
import { parseOrDeadLetter } from "./_parse.ts";
import { instanceId, onAbort, type RoleContext, type RoleIdentity } from "./role.ts";

/** The purchase-analytics role's consumer group and input topic: the purchase events. */
export function identity(config: Config): RoleIdentity {
  return {
    groupId: `${config.GROUP_ID_PREFIX}-purchase-analytics`,
    topics: [config.TOPIC_PURCHASES],
  };
}

/**
 * Runs the purchase-analytics role until `ctx.signal` aborts.
 *
 * @param ctx Configuration, logger, Kafka client and stop signal.
 */
export async function run({ config, log, kafka, signal }: RoleContext): Promise<void> {
  const settings = analyticsSettings(config);
  const partitions = new Partitions({ kafka, config, log, signal, groupId: settings.groupId });
  const role: Steps = { config, settings, log, partitions };
  const loop = kafka.runTransactional({
    log,
    groupId: settings.groupId,
    transactionalId: `${settings.groupId}-${instanceId(config)}`,
    instanceId: `purchase-analytics-${instanceId(config)}`,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    topics: identity(config).topics,
    onAssign: (assigned) => partitions.reassign(assigned),
    handle: (batch, ctx) => analyseBatch(role, batch, ctx),
  });
  // A live dashboard needs the last windows even when events stop: close them after a quiet spell.
  const idle = setInterval(
    () => flushQuietPartitions(role, loop),
    Math.min(1000, config.ANALYTICS_IDLE_MS),
  );
  const forget = onAbort(signal, () => void loop.stop());
  try {
    await loop.ready;
    log.info("analysing purchases", {
      topic: config.TOPIC_PURCHASES,
      windowMs: settings.window.sizeMs,
      latenessMs: settings.window.latenessMs,
    });
    await loop.done;
  } finally {
    forget();
    await loop.stop();
    clearInterval(idle);
    partitions.stopRestoring();
  }
}

/** The pure decision's settings, from the configuration. */
function analyticsSettings(config: Config): AnalyticsSettings {
  return {
    groupId: identity(config).groupId,
    topics: {
      notifications: config.TOPIC_PURCHASE_NOTIFICATIONS,
      analytics: config.TOPIC_PURCHASE_ANALYTICS,
      state: config.TOPIC_PURCHASE_STATE,
    },
    window: { sizeMs: config.ANALYTICS_WINDOW_MS, latenessMs: config.ANALYTICS_LATENESS_MS },
    storeName: config.STORE_NAME,
  };
}

/** What the role's steps share. */
interface Steps {
  config: Config;
  settings: AnalyticsSettings;
  log: Logger;
  partitions: Partitions;
}

/** What {@linkcode Partitions} reads the checkpoints with. */
interface PartitionsOptions {
  kafka: KafkaClient;
  config: Config;
  log: Logger;
  /** Stops a reading of the checkpoints under way. */
  signal: AbortSignal;
  groupId: string;
}

/** A partition this instance owns: its committed state, and its work one piece at a time. */
interface Owned {
  state: PartitionAnalytics;
  /** The end of the partition's work (a batch, an idle flush): the next piece waits for it. */
  queue: Promise<void>;
  /** Pieces of work queued or running. */
  pending: number;
}

/**
 * The input partitions this instance owns, each with its state, restored from the checkpoints of
 * the current assignment. State follows partitions: every assignment change drops every state
 * (`reassign`), and work begun under an earlier assignment (an older `generation`) must not
 * commit.
 */
class Partitions {
  #owned = new Map<number, Owned>();
  #generation = 0;
  /** The checkpoints of the current assignment, read once and shared by its partitions. */
  #restore: { done: Promise<RestoredCheckpoints>; stop: AbortController } | null = null;
  #options: PartitionsOptions;

  constructor(options: PartitionsOptions) {
    this.#options = options;
  }

  /** Counts assignment changes. */
  get generation(): number {
    return this.#generation;
  }

  /** The partitions owned, with their state. */
  owned(): IterableIterator<[number, Owned]> {
    return this.#owned.entries();
  }

  /** Whether `slot` is still the partition's state, in the assignment of `since`. */
  holds(partition: number, slot: Owned, since: number): boolean {
    return since === this.#generation && this.#owned.get(partition) === slot;
  }

  /**
   * A new assignment: every partition is restored, not only new ones, since a partition that
   * moved away and came back may have been processed by another instance meanwhile.
   */
  reassign(assigned: readonly TopicPartition[]): void {
    this.#generation++;
    this.#owned.clear();
    this.#restore?.stop.abort();
    this.#restore = null;
    // Restore now rather than at each partition's first batch, so that a partition whose
    // checkpoint holds open windows gets its idle flush even if no event comes.
    const since = this.#generation;
    const mine = assigned.filter((tp) => tp.topic === this.#options.config.TOPIC_PURCHASES);
    if (mine.length === 0) return;
    this.#checkpoints().then(() => {
      if (since !== this.#generation) return;
      for (const tp of mine) this.adopt(tp.partition).catch(() => {});
    }, () => {});
  }

  /** The partition's state, restored from its checkpoint when it has none; null when reassigned. */
  async adopt(partition: number): Promise<Owned | null> {
    const known = this.#owned.get(partition);
    if (known !== undefined) return known;
    const since = this.#generation;
    let found: RestoredCheckpoints;
    try {
      found = await this.#checkpoints();
    } catch (error) {
      if (since !== this.#generation) return null;
      throw error;
    }
    if (since !== this.#generation) return null;
    const again = this.#owned.get(partition);
    if (again !== undefined) return again;
    const checkpoint = found.checkpoints.get(partition);
    const { state, problem } = resumePartition(
      this.#options.config.TOPIC_PURCHASES,
      partition,
      checkpoint,
      found.committed.get(partition) ?? "-1",
      new Date(),
    );
    if (problem !== null) {
      this.#options.log.warn("cannot resume a partition exactly", { partition, problem });
    } else if (checkpoint !== undefined) {
      this.#options.log.info("restored window state", {
        partition,
        offset: checkpoint.offset,
        events: checkpoint.state.totals.events,
        open: checkpoint.state.open.length,
      });
    }
    const slot: Owned = { state, queue: Promise.resolve(), pending: 0 };
    this.#owned.set(partition, slot);
    return slot;
  }

  /** Drops a partition's state: its next batch restores it from its checkpoint. */
  drop(partition: number, slot: Owned): void {
    if (this.#owned.get(partition) !== slot) return; // dropped already, with every other (reassign)
    this.#owned.delete(partition);
    // Read again: the checkpoints read so far predate this partition's last commits.
    this.#restore = null;
  }

  /** Stops a reading of the checkpoints under way. */
  stopRestoring(): void {
    this.#restore?.stop.abort();
  }

  /** The checkpoints of the current assignment, read once (again after a drop). */
  #checkpoints(): Promise<RestoredCheckpoints> {
    if (this.#restore !== null) return this.#restore.done;
    const stop = new AbortController();
    const started = Date.now();
    const done = restoreCheckpoints(
      this.#options.kafka,
      {
        groupId: this.#options.groupId,
        inputTopic: this.#options.config.TOPIC_PURCHASES,
        stateTopic: this.#options.config.TOPIC_PURCHASE_STATE,
      },
      {
        timeoutMs: this.#options.config.STARTUP_TIMEOUT_MS,
        say: (line) => this.#options.log.info(line),
        signal: AbortSignal.any([this.#options.signal, stop.signal]),
      },
    );
    const entry = { done, stop };
    this.#restore = entry;
    done.then((found) => {
      this.#options.log.info("read the checkpoints", {
        partitions: [...found.checkpoints.keys()],
        ms: Date.now() - started,
      });
      for (const s of found.skipped) {
        this.#options.log.warn("skipping a checkpoint that does not parse", { ...s });
      }
    }, (error) => {
      if (this.#restore === entry) this.#restore = null;
      if (!stop.signal.aborted) this.#options.log.warn("cannot read the checkpoints", { error });
    });
    return done;
  }
}

/** Runs `work` after the partition's earlier work. */
function exclusive(slot: Owned, work: () => Promise<void>): Promise<void> {
  slot.pending++;
  const run = slot.queue.then(work).finally(() => slot.pending--);
  slot.queue = run.catch(() => {});
  return run;
}

/** A batch's records as the decision takes them: each a purchase event, or its dead letter. */
function batchEntries(batch: InBatch, config: Config, log: Logger): PurchaseBatchEntry[] {
  return batch.records.map((record) => {
    const parsed = parseOrDeadLetter(record, PurchaseSchema, config.TOPIC_DEAD_LETTER, log);
    // An event without its own time takes its record's (the gateway's, or a shop's producer's).
    return parsed.ok
      ? { offset: record.offset, purchase: purchaseEvent(parsed.value, record.timestamp) }
      : { offset: record.offset, deadLetter: parsed.letter };
  });
}

/**
 * One batch of a partition: decides on it with the partition's state, prints the notifications,
 * and commits the records with the input position; the new state is adopted only once committed.
 */
async function analyseBatch(
  { config, settings, log, partitions }: Steps,
  batch: InBatch,
  ctx: BatchContext,
): Promise<void> {
  const since = partitions.generation;
  const slot = await partitions.adopt(batch.partition);
  // Reassigned while restoring: not committed, so the batch is read again.
  if (slot === null) return;
  await exclusive(slot, async () => {
    // Dropped meanwhile (reassigned, or an idle flush failed): read again once restored.
    if (!partitions.holds(batch.partition, slot, since)) return;
    const entries = batchEntries(batch, config, log);
    const decision = analysePurchases(slot.state, entries, new Date(), settings);
    for (const n of decision.notifications) toConsole(config.PURCHASE_CONSOLE, n);
    // Revoked, or moved away and back, while it decided: another instance may own this state.
    if (ctx.signal.aborted || since !== partitions.generation) {
      return partitions.drop(batch.partition, slot);
    }
    try {
      // A batch counted already commits nothing new, at the position counted (never lower).
      await ctx.commit(decision.records, decision.offset);
      purchaseWindowsClosed.inc(decision.closed.length);
    } catch (error) {
      // The outcome may be unknown: restore this partition from what Kafka holds.
      partitions.drop(batch.partition, slot);
      throw error;
    }
    slot.state = decision.state;
  });
}

/** Queues an idle flush of every owned partition that is quiet and has no work under way. */
function flushQuietPartitions(role: Steps, loop: TransactionalLoop): void {
  const { config, partitions } = role;
  const topic = config.TOPIC_PURCHASES;
  const mine = new Set(
    loop.assigned().filter((tp) => tp.topic === topic).map((tp) => tp.partition),
  );
  const now = new Date();
  for (const [partition, slot] of partitions.owned()) {
    if (slot.pending > 0 || !mine.has(partition)) continue;
    if (slot.state.offset === null || !isIdle(slot.state, now, config.ANALYTICS_IDLE_MS)) {
      continue;
    }
    void exclusive(slot, () => flushPartition(role, loop, partition, slot));
  }
}

/** Closes a quiet partition's windows, at its position, while it is still this instance's. */
async function flushPartition(
  { config, settings, log, partitions }: Steps,
  loop: TransactionalLoop,
  partition: number,
  slot: Owned,
): Promise<void> {
  if (!partitions.holds(partition, slot, partitions.generation)) return;
  const decision = flushIdle(slot.state, new Date(), config.ANALYTICS_IDLE_MS, settings);
  if (decision === null) return;
  log.info("stream idle: closing windows", { partition, windows: decision.closed.length });
  try {
    const topic = config.TOPIC_PURCHASES;
    await loop.publish(decision.records, { topic, partition, offset: decision.offset });
    purchaseWindowsClosed.inc(decision.closed.length);
    slot.state = decision.state;
  } catch (error) {
    log.warn("idle flush failed; the partition will be restored from its checkpoint", {
      partition,
      error,
    });
    partitions.drop(partition, slot);
  }
}

/**
 * Prints a notification as `PURCHASE_CONSOLE` asks: ids and kind only by default (the console is
 * a log: no name, address or text), everything for debugging.
 */
function toConsole(mode: Config["PURCHASE_CONSOLE"], n: PurchaseNotified): void {
  if (mode === "off") return;
  process.stdout.write(consoleLines(mode, n));
}

/**
 * What {@linkcode toConsole} prints for one notification.
 *
 * @param mode `ids` (or its earlier name `line`): one line of ids; `full`: the address and text too.
 * @param n The notification.
 * @returns The text, ending in a line break.
 */
export function consoleLines(mode: "ids" | "line" | "full", n: PurchaseNotified): string {
  const head = `[compra ${n.kind === "short" ? "corta" : "larga"}] evento ${n.id} folio ${n.folio}`;
  return mode === "full" ? `${head} para ${n.to}\n${n.text}\n\n` : `${head}\n`;
}
