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
import type { InBatch } from "../lib/kafka/mod.ts";
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
import { instanceId, onAbort, type RoleContext } from "./role.ts";

/** A partition this instance owns: its committed state, and its work one piece at a time. */
interface Owned {
  state: PartitionAnalytics;
  /** The end of the partition's work (a batch, an idle flush): the next piece waits for it. */
  queue: Promise<void>;
  /** Pieces of work queued or running. */
  pending: number;
}

/**
 * Runs the purchase-analytics role until `ctx.signal` aborts.
 *
 * @param ctx Configuration, logger, Kafka client and stop signal.
 */
export async function run({ config, log, kafka, signal }: RoleContext): Promise<void> {
  const topic = config.TOPIC_PURCHASES;
  const groupId = `${config.GROUP_ID_PREFIX}-purchase-analytics`;
  const settings: AnalyticsSettings = {
    groupId,
    topics: {
      notifications: config.TOPIC_PURCHASE_NOTIFICATIONS,
      analytics: config.TOPIC_PURCHASE_ANALYTICS,
      state: config.TOPIC_PURCHASE_STATE,
    },
    window: { sizeMs: config.ANALYTICS_WINDOW_MS, latenessMs: config.ANALYTICS_LATENESS_MS },
    storeName: config.STORE_NAME,
  };
  const owned = new Map<number, Owned>();
  /** Counts assignment changes: work begun under an earlier assignment must not commit. */
  let generation = 0;
  /** The checkpoints of the current assignment, read once and shared by its partitions. */
  let restore = null as { done: Promise<RestoredCheckpoints>; stop: AbortController } | null;

  const checkpoints = (): Promise<RestoredCheckpoints> => {
    if (restore !== null) return restore.done;
    const stop = new AbortController();
    const started = Date.now();
    const done = restoreCheckpoints(
      kafka,
      { groupId, inputTopic: topic, stateTopic: config.TOPIC_PURCHASE_STATE },
      {
        timeoutMs: config.STARTUP_TIMEOUT_MS,
        say: (line) => log.info(line),
        signal: AbortSignal.any([signal, stop.signal]),
      },
    );
    const entry = { done, stop };
    restore = entry;
    done.then((found) => {
      log.info("read the checkpoints", {
        partitions: [...found.checkpoints.keys()],
        ms: Date.now() - started,
      });
      for (const s of found.skipped) {
        log.warn("skipping a checkpoint that does not parse", { ...s });
      }
    }, (error) => {
      if (restore === entry) restore = null;
      if (!stop.signal.aborted) log.warn("cannot read the checkpoints", { error });
    });
    return done;
  };

  /** Drops a partition's state: its next batch restores it from its checkpoint. */
  const drop = (partition: number, slot: Owned) => {
    if (owned.get(partition) !== slot) return; // dropped already, with every other (onAssign)
    owned.delete(partition);
    // Read again: the checkpoints read so far predate this partition's last commits.
    restore = null;
  };

  /** The partition's state, restored from its checkpoint when it has none; null when reassigned. */
  const adopt = async (partition: number): Promise<Owned | null> => {
    const known = owned.get(partition);
    if (known !== undefined) return known;
    const since = generation;
    let found: RestoredCheckpoints;
    try {
      found = await checkpoints();
    } catch (error) {
      if (since !== generation) return null;
      throw error;
    }
    if (since !== generation) return null;
    const again = owned.get(partition);
    if (again !== undefined) return again;
    const checkpoint = found.checkpoints.get(partition);
    const { state, problem } = resumePartition(
      topic,
      partition,
      checkpoint,
      found.committed.get(partition) ?? "-1",
      new Date(),
    );
    if (problem !== null) log.warn("cannot resume a partition exactly", { partition, problem });
    else if (checkpoint !== undefined) {
      log.info("restored window state", {
        partition,
        offset: checkpoint.offset,
        events: checkpoint.state.totals.events,
        open: checkpoint.state.open.length,
      });
    }
    const slot: Owned = { state, queue: Promise.resolve(), pending: 0 };
    owned.set(partition, slot);
    return slot;
  };

  /** Runs `work` after the partition's earlier work. */
  const exclusive = (slot: Owned, work: () => Promise<void>): Promise<void> => {
    slot.pending++;
    const run = slot.queue.then(work).finally(() => slot.pending--);
    slot.queue = run.catch(() => {});
    return run;
  };

  const inputsOf = (batch: InBatch): PurchaseBatchEntry[] =>
    batch.records.map((record) => {
      const parsed = parseOrDeadLetter(record, PurchaseSchema, config.TOPIC_DEAD_LETTER, log);
      // An event without its own time takes its record's (the gateway's, or a shop's producer's).
      return parsed.ok
        ? { offset: record.offset, purchase: purchaseEvent(parsed.value, record.timestamp) }
        : { offset: record.offset, deadLetter: parsed.letter };
    });

  const loop = kafka.runTransactional({
    log,
    groupId,
    transactionalId: `${groupId}-${instanceId(config)}`,
    instanceId: `purchase-analytics-${instanceId(config)}`,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    topics: [topic],
    onAssign: (partitions) => {
      // Every partition is restored after any change, not only new ones: a partition that moved
      // away and came back may have been processed by another instance meanwhile.
      generation++;
      owned.clear();
      restore?.stop.abort();
      restore = null;
      // Restore now rather than at each partition's first batch, so that a partition whose
      // checkpoint holds open windows gets its idle flush even if no event comes.
      const since = generation;
      const mine = partitions.filter((tp) => tp.topic === topic);
      if (mine.length === 0) return;
      checkpoints().then(() => {
        if (since !== generation) return;
        for (const tp of mine) adopt(tp.partition).catch(() => {});
      }, () => {});
    },
    handle: async (batch, ctx) => {
      const since = generation;
      const slot = await adopt(batch.partition);
      // Reassigned while restoring: not committed, so the batch is read again.
      if (slot === null) return;
      await exclusive(slot, async () => {
        // Dropped meanwhile (reassigned, or an idle flush failed): read again once restored.
        if (since !== generation || owned.get(batch.partition) !== slot) return;
        const decision = analysePurchases(slot.state, inputsOf(batch), new Date(), settings);
        for (const n of decision.notifications) toConsole(config.PURCHASE_CONSOLE, n);
        // Revoked, or moved away and back, while it decided: another instance may own this state.
        if (ctx.signal.aborted || since !== generation) return drop(batch.partition, slot);
        try {
          // A batch counted already commits nothing new, at the position counted (never lower).
          await ctx.commit(decision.records, decision.offset);
          purchaseWindowsClosed.inc(decision.closed.length);
        } catch (error) {
          // The outcome may be unknown: restore this partition from what Kafka holds.
          drop(batch.partition, slot);
          throw error;
        }
        slot.state = decision.state;
      });
    },
  });

  /** Closes a quiet partition's windows, at its position, while it is still this instance's. */
  const flush = async (partition: number, slot: Owned): Promise<void> => {
    if (owned.get(partition) !== slot) return;
    const decision = flushIdle(slot.state, new Date(), config.ANALYTICS_IDLE_MS, settings);
    if (decision === null) return;
    log.info("stream idle: closing windows", { partition, windows: decision.closed.length });
    try {
      await loop.publish(decision.records, { topic, partition, offset: decision.offset });
      purchaseWindowsClosed.inc(decision.closed.length);
      slot.state = decision.state;
    } catch (error) {
      log.warn("idle flush failed; the partition will be restored from its checkpoint", {
        partition,
        error,
      });
      drop(partition, slot);
    }
  };

  // A live dashboard needs the last windows even when events stop: close them after a quiet spell.
  const idle = setInterval(() => {
    const mine = new Set(
      loop.assigned().filter((tp) => tp.topic === topic).map((tp) => tp.partition),
    );
    const now = new Date();
    for (const [partition, slot] of owned) {
      if (slot.pending > 0 || !mine.has(partition)) continue;
      if (slot.state.offset === null || !isIdle(slot.state, now, config.ANALYTICS_IDLE_MS)) {
        continue;
      }
      void exclusive(slot, () => flush(partition, slot));
    }
  }, Math.min(1000, config.ANALYTICS_IDLE_MS));

  const forget = onAbort(signal, () => void loop.stop());
  try {
    await loop.ready;
    log.info("analysing purchases", {
      topic,
      windowMs: settings.window.sizeMs,
      latenessMs: settings.window.latenessMs,
    });
    await loop.done;
  } finally {
    forget();
    await loop.stop();
    clearInterval(idle);
    restore?.stop.abort();
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
