/**
 * The pure half of the Spark comparison (`bench/spark.ts`): the direct count of the events per
 * window that both engines' windows are checked against, reading either engine's window records,
 * and the side-by-side table of the report.
 */
import { classifyPurchase, type PurchaseEvent } from "../lib/purchase.ts";
import { spread } from "../datasets/stats.ts";

/** Counts of one tumbling window: what both engines publish per window. */
export interface WindowCounts {
  events: number;
  purchases: number;
  visits: number;
  short: number;
  long: number;
  /** Sum of `taps` over purchases, minutes. */
  tapsSum: number;
}

const zero = (): WindowCounts => ({
  events: 0,
  purchases: 0,
  visits: 0,
  short: 0,
  long: 0,
  tapsSum: 0,
});

/**
 * Counts events per tumbling event-time window, directly from what was published.
 *
 * @param events The events.
 * @param sizeMs Window size.
 * @returns Counts by window start (ms since the epoch).
 *
 * @example
 * ```ts
 * import { directCounts } from "./spark_report.ts";
 * const c = directCounts([{ ts: "2026-11-24T12:00:05.000Z", taps: 12.5 }], 10_000);
 * // c.get(Date.parse("2026-11-24T12:00:00.000Z")): 1 event, 1 short purchase, tapsSum 12.5
 * ```
 */
export function directCounts(
  events: readonly Pick<PurchaseEvent, "ts" | "taps">[],
  sizeMs: number,
): Map<number, WindowCounts> {
  const out = new Map<number, WindowCounts>();
  for (const e of events) {
    const start = Math.floor(Date.parse(e.ts) / sizeMs) * sizeMs;
    let c = out.get(start);
    if (c === undefined) out.set(start, c = zero());
    const kind = classifyPurchase(e);
    c.events++;
    if (kind === "visit") {
      c.visits++;
    } else {
      c.purchases++;
      c[kind]++;
      c.tapsSum += e.taps!;
    }
  }
  return out;
}

/**
 * Reads window records of either engine: Despacho's `PurchaseWindow` (one per input partition and
 * window, added up here as the gateway does) and the Spark job's `SparkWindow` (one per window).
 * Other records (Despacho's `PurchaseTotals`) are skipped.
 *
 * @param values The records' values, in the order read.
 * @returns Counts by window start, and how many records repeated a window (and partition) already
 * read.
 */
export function windowsOfRecords(
  values: readonly string[],
): { windows: Map<number, WindowCounts>; duplicates: number } {
  const windows = new Map<number, WindowCounts>();
  const seen = new Set<string>();
  let duplicates = 0;
  for (const value of values) {
    const r = JSON.parse(value);
    let counts: WindowCounts;
    let id: string;
    if (r.type === "PurchaseWindow") {
      const s = r.stats;
      counts = {
        events: s.events,
        purchases: s.purchases,
        visits: s.visits,
        short: s.short,
        long: s.long,
        tapsSum: s.tapsSum,
      };
      id = `${r.start}/${r.partition}`;
    } else if (r.type === "SparkWindow") {
      counts = {
        events: r.events,
        purchases: r.purchases,
        visits: r.visits,
        short: r.short,
        long: r.long,
        tapsSum: r.tapsSum ?? 0,
      };
      id = r.start;
    } else {
      continue;
    }
    if (seen.has(id)) {
      duplicates++;
      continue;
    }
    seen.add(id);
    const start = Date.parse(r.start);
    const c = windows.get(start) ?? zero();
    for (const k of Object.keys(c) as (keyof WindowCounts)[]) c[k] += counts[k];
    windows.set(start, c);
  }
  return { windows, duplicates };
}

/** How an engine's windows compare with the direct count. */
export interface WindowCheck {
  /** Windows of the direct count that were compared. */
  expected: number;
  /** Of those, windows published with equal counts and `taps` sum. */
  equal: number;
  /** Windows not published. */
  missing: number;
  /** Windows published that the direct count does not have. */
  extra: number;
  /** Records that repeated a window already read. */
  duplicates: number;
  /** The first few windows that differ: start, the direct count, what was published. */
  differing: { start: string; expected: WindowCounts; got: WindowCounts | null }[];
}

/**
 * Compares published windows with the direct count, for the windows that start before `before`
 * (the later ones may still be open).
 *
 * @param expected The direct count ({@linkcode directCounts}).
 * @param got The published windows ({@linkcode windowsOfRecords}).
 * @param before Only windows starting earlier are compared.
 * @param duplicates Repeated records, passed through to the result.
 * @returns The check; the engines did the same work when `equal === expected` and nothing is
 * missing, extra or duplicated.
 */
export function compareWindows(
  expected: ReadonlyMap<number, WindowCounts>,
  got: ReadonlyMap<number, WindowCounts>,
  before: number,
  duplicates = 0,
): WindowCheck {
  const check: WindowCheck = {
    expected: 0,
    equal: 0,
    missing: 0,
    extra: 0,
    duplicates,
    differing: [],
  };
  for (const [start, want] of [...expected].sort((a, b) => a[0] - b[0])) {
    if (start >= before) continue;
    check.expected++;
    const have = got.get(start);
    if (have === undefined) check.missing++;
    else if (sameCounts(want, have)) check.equal++;
    if (have === undefined || !sameCounts(want, have)) {
      if (check.differing.length < 5) {
        check.differing.push({
          start: new Date(start).toISOString(),
          expected: want,
          got: have ?? null,
        });
      }
    }
  }
  for (const start of got.keys()) if (start < before && !expected.has(start)) check.extra++;
  return check;
}

function sameCounts(a: WindowCounts, b: WindowCounts): boolean {
  // Sums of one-decimal minutes in another order may differ in the last bits.
  return a.events === b.events && a.purchases === b.purchases && a.visits === b.visits &&
    a.short === b.short && a.long === b.long &&
    Math.abs(a.tapsSum - b.tapsSum) <= 1e-6 * Math.max(1, Math.abs(a.tapsSum));
}

/** One run of one engine in the comparison. */
export interface EngineResult {
  /** From spawning the engine to its saying it is ready (JVM, session, queries, group join). */
  startupSeconds: number;
  /** CPU seconds its processes used to get ready. */
  startupCpuSeconds: number;
  backlog: {
    events: number;
    /** From ready until every event of the backlog was processed. */
    seconds: number;
    eventsPerSec: number;
    cpuSeconds: number;
    eventsPerCpuSecond: number;
  };
  latency: {
    rate: number;
    seconds: number;
    events: number;
    purchases: number;
    notified: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    cpuSeconds: number;
    /** Notifications whose text equals `purchaseMessage` of their event (Despacho's words). */
    textsEqual: number;
  };
  /** The largest resident memory of the engine's processes together, sampled every 250 ms. */
  peakRssMiB: number;
  /** Each process's own peak (root first): `deno task` and the worker; Python and its JVM. */
  peakRssByProcess: { name: string; pid: number; peakRssMiB: number }[];
  windows: WindowCheck;
  /** Spark: its micro-batches for the backlog and during the latency run. */
  microBatches?: { backlog: MicroBatchFigures; latency: MicroBatchFigures };
}

/** Per query: how many micro-batches ran and how long they took, trigger to commit. */
export type MicroBatchFigures = Record<string, { count: number; p50Ms: number; maxMs: number }>;

/** One engine's runs, as the table shows them. */
export interface EngineRuns {
  engine: string;
  label: string;
  runs: readonly EngineResult[];
}

/**
 * The side-by-side table of the report: per engine, the median of its runs with the smallest and
 * largest in brackets when there are several.
 *
 * @param engines Each engine's runs (at least one each), in the order to show.
 * @returns Markdown lines.
 */
export function formatComparison(engines: readonly EngineRuns[]): string[] {
  // Long on purpose: one Markdown table, a row per figure.
  const first = engines[0]?.runs[0];
  if (first === undefined) return [];
  const n = (v: number, digits = 0) =>
    Number.isFinite(v)
      ? v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
      : "—";
  const runs = Math.max(...engines.map((e) => e.runs.length));
  /** Median (min–max) of a figure over an engine's runs. */
  const m = (e: EngineRuns, f: (r: EngineResult) => number, digits = 0, bold = false) => {
    // A figure a run does not have (no micro-batch of a query ended in a phase) is left out.
    const values = e.runs.map(f).filter(Number.isFinite);
    if (values.length === 0) return "—";
    const { median, min, max } = spread(values);
    const mid = bold ? `**${n(median, digits)}**` : n(median, digits);
    return values.length > 1 ? `${mid} (${n(min, digits)}–${n(max, digits)})` : mid;
  };
  const sum = (e: EngineRuns, f: (r: EngineResult) => number) =>
    e.runs.reduce((t, r) => t + f(r), 0);
  const row = (name: string, cell: (e: EngineRuns) => string) =>
    `| ${name} | ${engines.map(cell).join(" | ")} |`;
  /** The run whose peak RSS is the median one, for its processes. */
  const medianRss = (e: EngineRuns) => {
    const sorted = [...e.runs].sort((a, b) => a.peakRssMiB - b.peakRssMiB);
    return sorted[Math.floor((sorted.length - 1) / 2)]!;
  };
  return [
    `### Against the report's engine (same events, same broker${
      runs > 1 ? `; median of ${runs} runs, smallest–largest in brackets` : ""
    })`,
    "",
    `| | ${engines.map((e) => e.label).join(" | ")} |`,
    `| --- | ${engines.map(() => "---").join(" | ")} |`,
    row(
      `events/s over a backlog of ${n(first.backlog.events)} events`,
      (e) => m(e, (r) => r.backlog.eventsPerSec, 0, true),
    ),
    row("seconds for the backlog, from ready", (e) => m(e, (r) => r.backlog.seconds, 2)),
    row("CPU seconds for the backlog", (e) => m(e, (r) => r.backlog.cpuSeconds, 1)),
    row("events per CPU-second", (e) => m(e, (r) => r.backlog.eventsPerCpuSecond)),
    row(
      `publication → notification p50 at ${n(first.latency.rate)} events/s, ms`,
      (e) => m(e, (r) => r.latency.p50Ms, 0, true),
    ),
    row("… p99, ms", (e) => m(e, (r) => r.latency.p99Ms, 0, true)),
    row("… max, ms", (e) => m(e, (r) => r.latency.maxMs)),
    row(
      `CPU seconds during the ${n(first.latency.seconds)} s latency run`,
      (e) => m(e, (r) => r.latency.cpuSeconds, 1),
    ),
    row("peak RSS, MiB", (e) => {
      const r = medianRss(e);
      // Short-lived helpers (a JVM's chmod) are in the sum, not named.
      const parts = r.peakRssByProcess.filter((p) => p.peakRssMiB >= 5)
        .map((p) => `${p.name} ${n(p.peakRssMiB)}`).join(" + ");
      return `${m(e, (x) => x.peakRssMiB)}${parts ? `; ${parts}` : ""}`;
    }),
    row("start-up to ready, s", (e) => m(e, (r) => r.startupSeconds, 1)),
    row("CPU seconds to start", (e) => m(e, (r) => r.startupCpuSeconds, 1)),
    ...(engines.some((e) => e.runs.some((r) => r.microBatches))
      ? (["backlog", "latency"] as const).map((phase) =>
        row(
          `micro-batches ${
            phase === "backlog" ? "for the backlog" : "in the latency run"
          }: count, p50 duration`,
          (e) => {
            const of = (r: EngineResult) => r.microBatches?.[phase] ?? {};
            const queries = [...new Set(e.runs.flatMap((r) => Object.keys(of(r))))].sort();
            return queries.length === 0
              ? "— (no micro-batches)"
              : queries.map((q) =>
                `${q} ${m(e, (r) => of(r)[q]?.count ?? 0)}, ${
                  m(e, (r) => of(r)[q]?.p50Ms ?? NaN)
                } ms`
              ).join("; ");
          },
        )
      )
      : []),
    row(
      "purchases notified; texts equal to Despacho's",
      (e) =>
        `${n(sum(e, (r) => r.latency.notified))}/${n(sum(e, (r) => r.latency.purchases))}; ${
          n(sum(e, (r) => r.latency.textsEqual))
        }`,
    ),
    row("windows equal to a direct count", (e) => {
      const off = [
        ["missing", sum(e, (r) => r.windows.missing)],
        ["extra", sum(e, (r) => r.windows.extra)],
        ["repeated", sum(e, (r) => r.windows.duplicates)],
      ].filter(([, v]) => v).map(([k, v]) => `${v} ${k}`);
      return `${sum(e, (r) => r.windows.equal)}/${sum(e, (r) => r.windows.expected)}${
        off.length ? ` (${off.join(", ")})` : ""
      }`;
    }),
    "",
  ];
}
