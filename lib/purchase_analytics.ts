/**
 * The purchase-analytics role's decision, pure: given one input partition's state, the events of a
 * batch (each with its offset, or the dead letter that replaces it) and the clock, which records
 * to publish in the batch's transaction (notifications, dead letters, closed windows, totals and
 * the checkpoint), which buyers to tell, and the partition's new state. The role only parses,
 * prints, mails and commits.
 *
 * The state given is never changed: the role adopts the new one once its transaction committed,
 * so a failed commit leaves nothing half-applied in memory.
 */
import type { OutRecord } from "./kafka/records.ts";
import {
  type AnalyticsState,
  classifyPurchase,
  type PurchaseCheckpoint,
  type PurchaseEvent,
  purchaseMessage,
  type PurchaseNotified,
  type PurchaseTotalsRecord,
  type PurchaseWindowRecord,
} from "./purchase.ts";
import {
  applyEvent,
  emptyState,
  flushWindows,
  reportOf,
  type WindowOptions,
  type WindowState,
} from "./windows.ts";

/** Where the role's records go, and how its windows and checkpoints are cut. */
export interface AnalyticsSettings {
  /** The role's consumer group: checkpoint keys start with it. */
  groupId: string;
  /** Topics: one notification per purchase, closed windows and totals, checkpoints (compacted). */
  topics: { notifications: string; analytics: string; state: string };
  window: WindowOptions;
  /** The shop's name in the buyers' messages (`STORE_NAME`). */
  storeName: string;
}

/** What the role keeps for one input partition it owns. */
export interface PartitionAnalytics {
  /** The input topic. */
  topic: string;
  partition: number;
  windows: AnalyticsState;
  /** The last input offset counted in `windows`; null before the first record. */
  offset: string | null;
  /** Wall-clock time of the last batch (or of the restore), ms: the idle flush counts from it. */
  lastEventAt: number;
}

/**
 * One record of a batch read from `purchase_events`: a valid purchase event with its event time
 * settled (`purchaseEvent`), or the dead letter that takes its place.
 */
export type PurchaseBatchEntry =
  | { offset: string; purchase: PurchaseEvent }
  | { offset: string; deadLetter: OutRecord };

/** What {@linkcode analysePurchases} and {@linkcode flushIdle} decided. */
export interface AnalyticsDecision {
  /**
   * To publish in one transaction with the input position `offset`: dead letters and
   * notifications in input order, then closed windows (oldest first), the totals and the
   * checkpoint.
   */
  records: OutRecord[];
  /** The input position the records belong to: the last record counted. */
  offset: string;
  /** Buyers to tell (console, mail), in input order. */
  notifications: PurchaseNotified[];
  /** Windows closed, oldest first. */
  closed: WindowState[];
  /** The partition's state once `records` are committed. */
  state: PartitionAnalytics;
}

/**
 * A partition's state before its first record.
 *
 * @param topic The input topic.
 * @param partition The input partition.
 * @param now The clock (the idle flush counts from it).
 */
export function freshPartition(topic: string, partition: number, now: Date): PartitionAnalytics {
  return { topic, partition, windows: emptyState(), offset: null, lastEventAt: now.getTime() };
}

/**
 * Decides one batch of one partition.
 *
 * Each valid event is classified and placed in its event-time window (or counted late); a purchase
 * gets its notification, a visit is counted and not notified; a dead letter is passed on and
 * counted in `invalid`. The windows the watermark passed are closed. Totals and a checkpoint
 * follow, so that the transaction that commits the batch's offset also holds the state after it.
 * Records at or below `state.offset` were counted already and are skipped; a batch of nothing
 * else decides nothing (no records, the same state).
 *
 * @param state The partition's state after its previous committed batch (not changed).
 * @param inputs The batch, in offset order; not empty.
 * @param now The clock: notification times and the idle flush's start.
 * @param settings Topics, group and window options.
 * @returns The records to publish, the buyers to tell, the windows closed and the new state.
 * @throws {RangeError} When `inputs` is empty, or the window size is not a whole number >= 1.
 *
 * @example
 * ```ts
 * import { analysePurchases, freshPartition } from "./purchase_analytics.ts";
 * const settings = {
 *   groupId: "despacho-purchase-analytics",
 *   topics: { notifications: "n", analytics: "a", state: "s" },
 *   window: { sizeMs: 10_000, latenessMs: 2_000 },
 *   storeName: "Tienda Sur",
 * };
 * const purchase = {
 *   v: 1, type: "Purchase", id: "p1", nombre: "Ana", apellido: "Díaz", edad: 30,
 *   email: "ana@mail.com", telefono: "+56 9", ubicacion: { direccion: "Calle 1", ciudad: "Lima", pais: "Perú" },
 *   productovisto: "Reloj", taps: 12.5, folio: "ABC-1", ts: "2026-11-24T12:00:00.000Z",
 * } as const;
 * const now = new Date("2026-11-24T12:00:01.000Z");
 * const d = analysePurchases(freshPartition("purchase_events", 0, now), [{ offset: "0", purchase }], now, settings);
 * // d.notifications[0].kind === "short"; d.records: the notification, the totals, the checkpoint
 * ```
 */
export function analysePurchases(
  state: PartitionAnalytics,
  inputs: readonly PurchaseBatchEntry[],
  now: Date,
  settings: AnalyticsSettings,
): AnalyticsDecision {
  if (inputs.length === 0) {
    throw new RangeError(
      `Cannot analyse purchases of ${state.topic}/${state.partition}: the batch is empty`,
    );
  }
  // Offsets grow within a partition, so a record at or below the last one counted was counted
  // already: a batch read again after a commit whose outcome the client could not know.
  const counted = state.offset === null ? -1n : BigInt(state.offset);
  const unseen = BigInt(inputs[0]!.offset) > counted
    ? inputs
    : inputs.filter((i) => BigInt(i.offset) > counted);
  const last = unseen.at(-1);
  if (last === undefined) {
    return { records: [], offset: state.offset!, notifications: [], closed: [], state };
  }
  const windows = structuredClone(state.windows);
  const records: OutRecord[] = [];
  const notifications: PurchaseNotified[] = [];
  const closed: WindowState[] = [];
  for (const input of unseen) {
    if ("deadLetter" in input) {
      windows.invalid++;
      records.push(input.deadLetter);
      continue;
    }
    const event = input.purchase;
    const kind = classifyPurchase(event);
    const placed = applyEvent(
      windows,
      {
        ts: Date.parse(event.ts),
        taps: event.taps,
        product: event.productovisto,
        country: event.ubicacion.pais,
      },
      kind,
      settings.window,
    );
    closed.push(...placed.closed);
    if (kind === "visit") continue;
    const notified = notification(event, kind, state, input.offset, now, settings.storeName);
    notifications.push(notified);
    records.push({
      topic: settings.topics.notifications,
      key: event.id,
      value: JSON.stringify(notified),
    });
  }
  const next: PartitionAnalytics = {
    ...state,
    windows,
    offset: last.offset,
    lastEventAt: now.getTime(),
  };
  records.push(...stateRecords(next, last.offset, closed, settings));
  return { records, offset: last.offset, notifications, closed, state: next };
}

/**
 * Whether a partition has open windows and no batch for `idleMs`: what {@linkcode flushIdle}
 * closes, asked cheaply (no copy of the state).
 *
 * @param state The partition's state.
 * @param now The clock.
 * @param idleMs How long without a batch makes a partition idle.
 * @returns Whether an idle flush would close windows now.
 */
export function isIdle(state: PartitionAnalytics, now: Date, idleMs: number): boolean {
  return state.windows.open.length > 0 && now.getTime() - state.lastEventAt >= idleMs;
}

/**
 * Decides whether a quiet partition closes its open windows, so that a live dashboard gets the
 * last ones when events stop. Events for them afterwards are late.
 *
 * @param state The partition's state (not changed).
 * @param now The clock.
 * @param idleMs How long without a batch makes a partition idle.
 * @param settings Topics, group and window options.
 * @returns `null` when there is nothing to close or the partition is not idle yet; else the
 * windows closed, the totals and the checkpoint, to publish at the partition's position
 * `state.offset` (unchanged), and the new state.
 */
export function flushIdle(
  state: PartitionAnalytics,
  now: Date,
  idleMs: number,
  settings: AnalyticsSettings,
): AnalyticsDecision | null {
  const { offset } = state;
  if (offset === null || !isIdle(state, now, idleMs)) return null;
  const windows = structuredClone(state.windows);
  const closed = flushWindows(windows);
  const next: PartitionAnalytics = { ...state, windows };
  return {
    records: stateRecords(next, offset, closed, settings),
    offset,
    notifications: [],
    closed,
    state: next,
  };
}

/**
 * The compacted-topic key of a partition's checkpoint.
 *
 * @param groupId The role's consumer group.
 * @param topic The input topic.
 * @param partition The input partition.
 */
export function checkpointKey(groupId: string, topic: string, partition: number): string {
  return `${groupId}/${topic}/${partition}`;
}

/**
 * The state a partition resumes with, from its latest checkpoint and the group's committed
 * offset. They are written in one transaction, so normally the checkpoint counts every record
 * before the committed offset and nothing after; anything else is said in `problem` (one
 * sentence), because windows and totals will not be exact.
 *
 * @param topic The input topic.
 * @param partition The input partition.
 * @param checkpoint Its latest checkpoint, if any.
 * @param committed The group's committed offset (the next to read; "-1" when none).
 * @param now The clock (the idle flush counts from it).
 * @returns The state, and what is wrong with it, if anything.
 */
export function resumePartition(
  topic: string,
  partition: number,
  checkpoint: PurchaseCheckpoint | undefined,
  committed: string,
  now: Date,
): { state: PartitionAnalytics; problem: string | null } {
  const where = `${topic}/${partition}`;
  const next = BigInt(committed);
  if (checkpoint === undefined) {
    return {
      state: freshPartition(topic, partition, now),
      problem: next <= 0n ? null : `Cannot resume ${where}: the group resumes at offset ` +
        `${committed} but there is no checkpoint, so the records before it are missing from ` +
        "windows and totals",
    };
  }
  if (next < 0n) {
    // No committed offset: the group reads the partition from its beginning, so it counts from
    // nothing (a checkpoint left by an earlier life of the group would count everything twice).
    return {
      state: freshPartition(topic, partition, now),
      problem: `Cannot resume ${where} from its checkpoint at offset ${checkpoint.offset}: the ` +
        "group has no committed offset, so it reads the partition from its beginning afresh",
    };
  }
  const state: PartitionAnalytics = {
    topic,
    partition,
    windows: checkpoint.state,
    offset: checkpoint.offset,
    lastEventAt: now.getTime(),
  };
  const counted = BigInt(checkpoint.offset) + 1n;
  return {
    state,
    problem: counted === next ? null : `Cannot resume ${where} exactly: its checkpoint counts ` +
      `records up to offset ${checkpoint.offset} but the group resumes at offset ${committed}`,
  };
}

/** The closed windows, totals and checkpoint that describe `state` after its record at `offset`. */
function stateRecords(
  state: PartitionAnalytics,
  offset: string,
  closed: readonly WindowState[],
  settings: AnalyticsSettings,
): OutRecord[] {
  const { partition, windows } = state;
  const out: OutRecord[] = closed.map((w) => {
    const value: PurchaseWindowRecord = {
      v: 1,
      type: "PurchaseWindow",
      partition,
      start: new Date(w.start).toISOString(),
      end: new Date(w.end).toISOString(),
      stats: w.stats,
      report: reportOf(w.stats),
    };
    return {
      topic: settings.topics.analytics,
      key: `${value.start}/${partition}`,
      value: JSON.stringify(value),
    };
  });
  const totals: PurchaseTotalsRecord = {
    v: 1,
    type: "PurchaseTotals",
    partition,
    stats: windows.totals,
    late: windows.late,
    invalid: windows.invalid,
    watermark: windows.watermark === null ? null : new Date(windows.watermark).toISOString(),
    report: reportOf(windows.totals),
  };
  out.push({
    topic: settings.topics.analytics,
    key: `totals/${partition}`,
    value: JSON.stringify(totals),
  });
  const checkpoint: PurchaseCheckpoint = {
    v: 1,
    type: "PurchaseCheckpoint",
    topic: state.topic,
    partition,
    offset,
    state: windows,
  };
  out.push({
    topic: settings.topics.state,
    key: checkpointKey(settings.groupId, state.topic, partition),
    value: JSON.stringify(checkpoint),
  });
  return out;
}

function notification(
  event: PurchaseEvent,
  kind: "short" | "long",
  state: PartitionAnalytics,
  offset: string,
  now: Date,
  storeName: string,
): PurchaseNotified {
  const { subject, text } = purchaseMessage(event, kind, storeName);
  return {
    v: 1,
    type: "PurchaseNotified",
    id: event.id,
    kind,
    to: event.email,
    subject,
    text,
    folio: event.folio!, // PurchaseSchema refuses a purchase without its folio

    source: { partition: state.partition, offset },
    at: now.toISOString(),
  };
}
