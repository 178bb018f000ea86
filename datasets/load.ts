/**
 * Open-loop load of orders against a gateway: each order is due at its scheduled time and sent
 * then (bounded by a concurrency cap), and its latency is measured from that scheduled time.
 */
import type { OrderInput } from "../lib/order.ts";
import { openLoopSchedule, summarize, type Summary } from "./stats.ts";

/** One request's outcome. */
export interface LoadResult {
  index: number;
  /** HTTP status, or 0 for a network error. */
  status: number;
  /** The order id from a 202. */
  id?: string;
  /** The `Retry-After` header of the answer (429 and 503 carry one), or null. */
  retryAfter: string | null;
  /** When it was due, ms from the start. */
  scheduledMs: number;
  /** From the scheduled time to the response, ms. */
  latencyMs: number;
  error?: string;
}

/** Options of {@linkcode loadOrders}. */
export interface LoadOptions {
  /** The gateway, or the gateways taken in turn (asked again for each order, so it can change). */
  target: string | (() => readonly string[]);
  orders: readonly OrderInput[];
  /** Orders per second, or all at once. */
  rate: number | "spike";
  /** Requests in flight at most. @default 256 */
  concurrency?: number;
  /** The `Idempotency-Key` of each order, if any. */
  idempotencyKey?: (index: number) => string | undefined;
  /** Called after each response, with how many are done. */
  onProgress?: (done: number, failed: number) => void;
}

/** Counts and latencies of a load run. */
export interface LoadSummary {
  sent: number;
  accepted: number;
  clientErrors: number;
  serverErrors: number;
  networkErrors: number;
  wallMs: number;
  /** Requests answered per second over the run. */
  achievedRate: number;
  latencyMs: Summary;
}

/**
 * Sends every order to `POST {target}/orders` on the open-loop schedule.
 *
 * @returns Each request's outcome, in dataset order.
 */
export async function loadOrders(options: LoadOptions): Promise<LoadResult[]> {
  const schedule = openLoopSchedule(options.orders.length, options.rate);
  const limit = options.concurrency ?? 256;
  const results: LoadResult[] = new Array(options.orders.length);
  let inFlight = 0;
  let done = 0;
  let failed = 0;
  const slots: (() => void)[] = [];
  const start = performance.now();
  const one = async (index: number) => {
    const scheduledMs = schedule[index]!;
    const wait = start + scheduledMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    while (inFlight >= limit) await new Promise<void>((r) => slots.push(r));
    inFlight++;
    let result: LoadResult;
    const key = options.idempotencyKey?.(index);
    try {
      const target = typeof options.target === "string"
        ? options.target
        : pick(options.target(), index);
      const res = await fetch(`${target}/orders`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(key === undefined ? {} : { "Idempotency-Key": key }),
        },
        body: JSON.stringify(options.orders[index]),
      });
      const body = await res.json().catch(() => ({}));
      result = {
        index,
        status: res.status,
        retryAfter: res.headers.get("retry-after"),
        scheduledMs,
        latencyMs: performance.now() - start - scheduledMs,
      };
      if (res.status === 202) result.id = body.id;
      else result.error = body.detail ?? res.statusText;
    } catch (error) {
      result = {
        index,
        status: 0,
        retryAfter: null,
        scheduledMs,
        latencyMs: performance.now() - start - scheduledMs,
        error: String(error),
      };
    } finally {
      inFlight--;
      slots.shift()?.();
    }
    results[index] = result;
    if (result.status !== 202) failed++;
    options.onProgress?.(++done, failed);
  };
  await Promise.all(options.orders.map((_, i) => one(i)));
  return results;
}

/** The gateway an order goes to: the list in turn. */
function pick(targets: readonly string[], index: number): string {
  if (targets.length === 0) throw new RangeError("Cannot send an order: no gateway to send it to");
  return targets[index % targets.length]!;
}

/**
 * Summarizes a load run.
 *
 * @param results From {@linkcode loadOrders}.
 * @param wallMs How long the run took.
 */
export function summarizeLoad(results: readonly LoadResult[], wallMs: number): LoadSummary {
  const count = (f: (r: LoadResult) => boolean) => results.filter(f).length;
  return {
    sent: results.length,
    accepted: count((r) => r.status === 202),
    clientErrors: count((r) => r.status >= 400 && r.status < 500),
    serverErrors: count((r) => r.status >= 500),
    networkErrors: count((r) => r.status === 0),
    wallMs,
    achievedRate: wallMs > 0 ? (results.length * 1000) / wallMs : 0,
    latencyMs: summarize(results.map((r) => r.latencyMs)),
  };
}
