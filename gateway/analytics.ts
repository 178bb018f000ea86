/**
 * The purchase analytics as the gateway serves them: closed windows and totals read from the
 * analytics topic, merged across partitions. `GET /analytics/purchases` answers the latest
 * windows and the totals; `GET /analytics/purchases/events` streams each window as it closes.
 */
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import { mergeStats, type PurchaseReport, type PurchaseStats, reportOf } from "../lib/windows.ts";

const StatsSchema = z.object({
  events: z.number(),
  purchases: z.number(),
  visits: z.number(),
  short: z.number(),
  long: z.number(),
  tapsSum: z.number(),
  taps: z.record(z.string(), z.number()),
  products: z.record(z.string(), z.number()),
  countries: z.record(z.string(), z.number()),
});

/** A record of the analytics topic. */
export const AnalyticsRecordSchema = z.discriminatedUnion("type", [
  z.object({
    v: z.literal(1),
    type: z.literal("PurchaseWindow"),
    partition: z.int(),
    start: z.iso.datetime(),
    end: z.iso.datetime(),
    stats: StatsSchema,
  }),
  z.object({
    v: z.literal(1),
    type: z.literal("PurchaseTotals"),
    partition: z.int(),
    stats: StatsSchema,
    late: z.int(),
    invalid: z.int(),
    watermark: z.iso.datetime().nullable(),
  }),
]);

/** A window merged across partitions. */
export interface MergedWindow extends PurchaseReport {
  start: string;
  end: string;
  /** Partitions that reported this window so far. */
  partitions: number;
}

/** Windows and totals, merged across partitions; bounded to the latest windows. */
export class AnalyticsView {
  #windows = new Map<string, { end: string; parts: Map<number, PurchaseStats> }>();
  #totals = new Map<number, { stats: PurchaseStats; late: number; invalid: number }>();
  #listeners = new Set<(w: MergedWindow) => void>();
  #max: number;

  /** @param maxWindows Windows kept. @default 360 (an hour of 10 s windows) */
  constructor(maxWindows = 360) {
    this.#max = maxWindows;
  }

  /** Applies one analytics record; a repeat of a (window, partition) replaces the earlier one. */
  apply(record: z.infer<typeof AnalyticsRecordSchema>): void {
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
      if (this.#windows.size > this.#max) {
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
 * The `/analytics` routes.
 *
 * @param view The merged analytics.
 */
export function createAnalyticsRoutes(view: AnalyticsView): Hono {
  const app = new Hono();
  app.get("/purchases", (c) => {
    const limit = Math.min(360, Math.max(1, Number(c.req.query("limit") ?? 20) || 20));
    return c.json({ windows: view.windows(limit), totals: view.totals() });
  });
  app.get("/purchases/events", (c) =>
    streamSSE(c, async (stream) => {
      const queue: MergedWindow[] = [];
      let wake: () => void = () => {};
      const stop = view.subscribe((w) => {
        queue.push(w);
        wake();
      });
      let open = true;
      stream.onAbort(() => {
        open = false;
        wake();
      });
      try {
        while (open) {
          const w = queue.shift();
          if (w !== undefined) {
            await stream.writeSSE({ event: "window", data: JSON.stringify(w) });
            continue;
          }
          await Promise.race([
            new Promise<void>((r) => (wake = r)),
            stream.sleep(15_000).then(() => stream.write(": keep-alive\n\n")),
          ]);
        }
      } finally {
        stop();
      }
    }));
  return app;
}
