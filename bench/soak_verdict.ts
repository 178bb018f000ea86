/**
 * The soak's verdicts, pure so they can be tested without a system: whether a process's memory
 * keeps growing after warm-up (a least-squares slope of its RSS), and whether consumer lag settles
 * again within a stated time after each fault.
 */

/** A point of a series: `t` in seconds, `v` its value. */
export interface Point {
  t: number;
  v: number;
}

/**
 * The least-squares slope of `v` over `t` (units of `v` per unit of `t`), and the fitted value at
 * the first point.
 *
 * @param points At least two points with distinct `t`.
 * @returns The slope and the intercept at the first point's `t`.
 * @throws {RangeError} When fewer than two points or all at the same `t`.
 *
 * @example
 * ```ts
 * import { fitLine } from "./soak_verdict.ts";
 * fitLine([{ t: 0, v: 1 }, { t: 1, v: 3 }, { t: 2, v: 5 }]); // { slope: 2, start: 1 }
 * ```
 */
export function fitLine(points: readonly Point[]): { slope: number; start: number } {
  if (points.length < 2) {
    throw new RangeError(
      `Cannot fit a line: at least two points are needed: current count is ${points.length}`,
    );
  }
  const n = points.length;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const mv = points.reduce((a, p) => a + p.v, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.v - mv);
    den += (p.t - mt) ** 2;
  }
  if (den === 0) {
    throw new RangeError(`Cannot fit a line: every point is at the same time: ${points[0]!.t}`);
  }
  const slope = num / den;
  return { slope, start: mv + slope * (points[0]!.t - mt) };
}

/** When memory growth counts as a leak. */
export interface GrowthLimits {
  /** Samples at the start of each process's life left out, seconds. */
  warmupS: number;
  /** Fewest samples after warm-up for a verdict; fewer: not judged. */
  minSamples: number;
  /** Slope above which memory grows, MiB per minute. */
  maxSlopeMiBPerMin: number;
  /** Growth over the fitted span above which memory grows, as a fraction of the fitted start. */
  maxGrowthFraction: number;
}

/** The memory verdict of one process's life (one pid). */
export interface GrowthVerdict {
  /** Samples judged (after warm-up). */
  samples: number;
  /** Whether there were enough samples to judge. */
  judged: boolean;
  slopeMiBPerMin: number;
  /** Fitted growth from the first to the last judged sample, as a fraction of the fitted start. */
  growthFraction: number;
  /** Whether memory keeps growing: slope AND growth above their limits. */
  growing: boolean;
}

/**
 * Whether one process's memory keeps growing: a least-squares line through its RSS samples after
 * its warm-up; growing when both the slope and the fitted total growth exceed their limits (the
 * slope alone would flag a large process's noise; the fraction alone a small process's).
 *
 * @param rss RSS samples of one process life: `t` seconds since that life began, `v` MiB.
 * @param limits Warm-up, fewest samples, slope and growth limits.
 * @returns The verdict; not judged (never growing) with fewer than `minSamples` after warm-up.
 */
export function memoryGrowth(rss: readonly Point[], limits: GrowthLimits): GrowthVerdict {
  const kept = rss.filter((p) => p.t >= limits.warmupS && Number.isFinite(p.v));
  if (kept.length < Math.max(2, limits.minSamples)) {
    return {
      samples: kept.length,
      judged: false,
      slopeMiBPerMin: 0,
      growthFraction: 0,
      growing: false,
    };
  }
  const { slope, start } = fitLine(kept);
  const span = kept.at(-1)!.t - kept[0]!.t;
  const slopeMiBPerMin = slope * 60;
  const growthFraction = start > 0 ? (slope * span) / start : 0;
  return {
    samples: kept.length,
    judged: true,
    slopeMiBPerMin,
    growthFraction,
    growing: slopeMiBPerMin > limits.maxSlopeMiBPerMin && growthFraction > limits.maxGrowthFraction,
  };
}

/** A lag sample: `t` seconds since the start, each group's total lag (null: not readable). */
export interface LagSample {
  t: number;
  lag: Record<string, number | null>;
}

/** How lag recovered after one fault. */
export interface LagRecovery {
  /** When the faulted process was running again, seconds since the start. */
  resumedAt: number;
  /** Seconds from `resumedAt` to the first sample with every group settled, or null: never. */
  recoveredAfterS: number | null;
  ok: boolean;
}

/**
 * Whether lag settled after a fault: the first sample at or after `resumedAt` in which every
 * group's lag was read and is at most `settled`, within `withinS` seconds.
 *
 * @param samples Lag samples in time order.
 * @param resumedAt When the faulted process was running again, seconds since the start.
 * @param settled Lag (records, per group) that counts as caught up.
 * @param withinS Longest wait, seconds.
 * @returns When it settled, and whether within the limit.
 *
 * @example
 * ```ts
 * import { lagRecovery } from "./soak_verdict.ts";
 * lagRecovery([{ t: 10, lag: { a: 900 } }, { t: 20, lag: { a: 3 } }], 8, 10, 60);
 * // { resumedAt: 8, recoveredAfterS: 12, ok: true }
 * ```
 */
export function lagRecovery(
  samples: readonly LagSample[],
  resumedAt: number,
  settled: number,
  withinS: number,
): LagRecovery {
  const first = samples.find((s) => {
    const lags = Object.values(s.lag);
    return s.t >= resumedAt && lags.length > 0 &&
      lags.every((l) => l !== null && l <= settled);
  });
  const recoveredAfterS = first === undefined ? null : first.t - resumedAt;
  return {
    resumedAt,
    recoveredAfterS,
    ok: recoveredAfterS !== null && recoveredAfterS <= withinS,
  };
}
