/**
 * The purchase analytics as the gateway serves them: closed windows and totals read from the
 * analytics topic, merged across partitions. `GET /analytics/purchases` answers the latest
 * windows and the totals; `GET /analytics/purchases/events` streams each window as it closes.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { streamSSE } from "hono/streaming";
import type {
  PurchaseReport,
  PurchaseStats,
  PurchaseTotalsRecord,
  PurchaseWindowRecord,
} from "../lib/purchase.ts";
import { mergeStats, reportOf } from "../lib/windows.ts";
import { pushedItems } from "./sse.ts";

/** Windows kept: an hour of 10 s windows. */
const MAX_WINDOWS = 360;

/**
 * What the view takes of an analytics record (`PurchaseAnalyticsRecordSchema`, lib/purchase.ts):
 * everything but the record's own `report`, which it derives again from merged statistics.
 */
export type PurchaseAnalyticsViewInput =
  | Omit<PurchaseWindowRecord, "report">
  | Omit<PurchaseTotalsRecord, "report">;

/** A window merged across partitions. */
export interface MergedWindow extends PurchaseReport {
  start: string;
  end: string;
  /** Partitions that reported this window so far. */
  partitions: number;
}

/** Windows and totals, merged across partitions; bounded to the latest {@linkcode MAX_WINDOWS}. */
export class PurchaseAnalyticsView {
  #windows = new Map<string, { end: string; parts: Map<number, PurchaseStats> }>();
  #totals = new Map<number, { stats: PurchaseStats; late: number; invalid: number }>();
  #listeners = new Set<(w: MergedWindow) => void>();

  /** Applies one analytics record; a repeat of a (window, partition) replaces the earlier one. */
  apply(record: PurchaseAnalyticsViewInput): void {
    if (record.type === "PurchaseTotals") {
      this.#totals.set(record.partition, {
        stats: record.stats,
        late: record.late,
        invalid: record.invalid,
      });
      return;
    }
    let w = this.#windows.get(record.start);
    if (w === undefined) {
      this.#windows.set(record.start, w = { end: record.end, parts: new Map() });
      if (this.#windows.size > MAX_WINDOWS) {
        const oldest = [...this.#windows.keys()].sort()[0]!;
        this.#windows.delete(oldest);
      }
    }
    w.parts.set(record.partition, record.stats);
    const merged = this.window(record.start)!;
    for (const listener of this.#listeners) listener(merged);
  }

  /** One window, merged. */
  window(start: string): MergedWindow | undefined {
    const w = this.#windows.get(start);
    if (w === undefined) return undefined;
    return {
      start,
      end: w.end,
      partitions: w.parts.size,
      ...reportOf(mergeStats(...w.parts.values())),
    };
  }

  /** The latest `limit` windows, newest first. */
  windows(limit: number): MergedWindow[] {
    return [...this.#windows.keys()].sort().reverse().slice(0, limit).map((s) => this.window(s)!);
  }

  /** Totals since the start, over every partition. */
  totals(): PurchaseReport & { late: number; invalid: number } {
    const all = [...this.#totals.values()];
    return {
      ...reportOf(mergeStats(...all.map((t) => t.stats))),
      late: all.reduce((n, t) => n + t.late, 0),
      invalid: all.reduce((n, t) => n + t.invalid, 0),
    };
  }

  /** Calls `listener` for every window record applied; returns the unsubscribe. */
  subscribe(listener: (w: MergedWindow) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/**
 * The `/analytics` routes, staff only.
 *
 * @param view The merged analytics.
 * @param staff The staff audience's guard.
 */
export function createPurchaseAnalyticsRoutes(
  view: PurchaseAnalyticsView,
  staff: MiddlewareHandler,
): Hono {
  const app = new Hono();
  app.get("/purchases", staff, (c) => {
    const limit = Math.min(360, Math.max(1, Number(c.req.query("limit") ?? 20) || 20));
    return c.json({ windows: view.windows(limit), totals: view.totals() });
  });
  app.get("/purchases/events", staff, (c) =>
    streamSSE(c, async (stream) => {
      for await (const w of pushedItems<MergedWindow>(stream, (push) => view.subscribe(push))) {
        await stream.writeSSE({ event: "window", data: JSON.stringify(w) });
      }
    }));
  return app;
}
