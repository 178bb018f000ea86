/**
 * Small statistics for latency reports: nearest-rank percentiles, mean, histograms, and the
 * open-loop arrival schedule used by loaders and the bench.
 */

/**
 * The `p`-th percentile by nearest rank: the smallest value with at least p% of values at or
 * below it.
 *
 * @param sorted Values in ascending order.
 * @param p From 0 to 100.
 * @returns The percentile, or `NaN` for no values.
 * @throws {RangeError} When `p` is outside 0–100.
 *
 * @example
 * ```ts
 * import { percentile } from "./stats.ts";
 * percentile([1, 2, 3, 4], 50); // 2
 * ```
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) {
    throw new RangeError(
      `Cannot compute percentile: p must be from 0 to 100: current value is ${p}`,
    );
  }
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** Count, mean and the usual percentiles of a sample. */
export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  min: number;
}

/**
 * Summarizes a sample.
 *
 * @param values Any order.
 * @returns The summary (`NaN` fields for an empty sample).
 */
export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const count = sorted.length;
  return {
    count,
    mean: count === 0 ? NaN : sorted.reduce((a, b) => a + b, 0) / count,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: count === 0 ? NaN : sorted[count - 1]!,
    min: count === 0 ? NaN : sorted[0]!,
  };
}

/**
 * Counts values into equal-width buckets from `min` to `max`; values outside go to the edge
 * buckets.
 *
 * @returns `buckets` counts, and the lower bound of each bucket.
 */
export function histogram(
  values: readonly number[],
  buckets: number,
  min: number,
  max: number,
): { from: number[]; counts: number[] } {
  if (!Number.isInteger(buckets) || buckets < 1) {
    throw new RangeError(
      `Cannot build histogram: buckets must be a whole number >= 1: current value is ${buckets}`,
    );
  }
  const width = (max - min) / buckets || 1;
  const counts = new Array<number>(buckets).fill(0);
  for (const v of values) {
    const i = Math.min(buckets - 1, Math.max(0, Math.floor((v - min) / width)));
    counts[i]!++;
  }
  return { from: counts.map((_, i) => min + i * width), counts };
}

/**
 * When each request of an open-loop load is due, in milliseconds from the start: evenly spaced
 * at `rate` per second, or all at 0 for a spike. Latency is measured from these times, not from
 * when a busy client got round to sending (no coordinated omission).
 *
 * @param count Requests.
 * @param rate Per second; `"spike"` sends all at once.
 */
export function openLoopSchedule(count: number, rate: number | "spike"): number[] {
  if (rate !== "spike" && !(rate > 0)) {
    throw new RangeError(`Cannot schedule load: rate must be above 0: current value is ${rate}`);
  }
  return Array.from({ length: count }, (_, i) => rate === "spike" ? 0 : (i * 1000) / rate);
}

/** Median, lowest and highest of some values (NaNs left out). */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

/**
 * The spread of values: the median (of an even count, the mean of the middle two), min and max.
 *
 * @example
 * ```ts
 * import { spread } from "./stats.ts";
 * spread([3, 1, 2]); // { median: 2, min: 1, max: 3, n: 3 }
 * ```
 */
export function spread(values: readonly number[]): Spread {
  const v = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const median = n % 2 === 1 ? v[(n - 1) / 2]! : (v[n / 2 - 1]! + v[n / 2]!) / 2;
  return { median, min: v[0]!, max: v[n - 1]!, n };
}
