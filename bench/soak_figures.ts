/**
 * The soak's samples and latency windows, and their figures: one SVG per series (RSS, CPU and open
 * files of every process, lag per group, POST and POST → finalizado latency), faults and spikes
 * marked. Kept apart from the run so that `deno task soak --figures report.json` draws them again
 * from a kept report.
 */
import { percentile } from "../datasets/stats.ts";
import { seriesSvg } from "./svg.ts";

/** One process's figures in a sample (`NaN`, or null once read back from JSON: not measured). */
export interface ProcFigures {
  pid: number | null;
  rssMiB: number;
  /** CPU over the last interval, percent of one core (NaN for a life's first sample). */
  cpuPct: number;
  fds: number;
}

/** One sample: `t` seconds since the start, every process, each group's total lag (null: unread). */
export interface Sample {
  t: number;
  procs: Record<string, ProcFigures>;
  lag: Record<string, number | null>;
}

/** Percentiles in ms, null where there was nothing to measure. */
export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

/** The orders due in one window of the run (`t` seconds since the start, 10 s long). */
export interface Window {
  t: number;
  orders: number;
  accepted: number;
  postMs: Percentiles;
  endToEndMs: Percentiles & { finalized: number };
}

/** A vertical mark: `x` seconds since the start. */
export interface Mark {
  x: number;
  label: string;
}

/**
 * The figures of a soak, by file name.
 *
 * @param samples Every sample, in time order.
 * @param windows Latency per window, in time order.
 * @param marks Faults and spikes.
 * @param windowS A window's length, s (its point is drawn at its middle). @default 10
 * @returns `rss.svg`, `cpu.svg`, `fds.svg`, `lag.svg`, `post-latency.svg`, `e2e-latency.svg`.
 */
export function soakFigures(
  samples: readonly Sample[],
  windows: readonly Window[],
  marks: readonly Mark[],
  windowS = 10,
): Record<string, string> {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.procs)))];
  const perProc = (f: (p: ProcFigures) => number | null) =>
    names.map((name) => ({
      name,
      points: samples.map((s) => {
        const p = s.procs[name];
        return { x: s.t, y: p === undefined ? NaN : f(p) ?? NaN };
      }),
    }));
  const groups = [...new Set(samples.flatMap((s) => Object.keys(s.lag)))];
  const pct = (pick: (w: Window) => number | null) => (w: Window) => ({
    x: w.t + windowS / 2,
    y: pick(w) ?? NaN,
  });
  return {
    "rss.svg": seriesSvg(
      "Resident memory per process",
      "RSS (MiB)",
      perProc((p) => p.rssMiB),
      marks,
    ),
    "cpu.svg": seriesSvg(
      `CPU per process (${windowS} s)`,
      "CPU (% of one core)",
      perProc((p) => p.cpuPct),
      marks,
    ),
    "fds.svg": seriesSvg(
      "Open file descriptors per process",
      "open fds",
      perProc((p) => p.fds),
      marks,
    ),
    "lag.svg": seriesSvg(
      "Consumer lag per group",
      "records",
      groups.map((g) => ({
        name: g,
        points: samples.map((s) => ({ x: s.t, y: s.lag[g] ?? NaN })),
      })),
      marks,
    ),
    "post-latency.svg": seriesSvg(`POST /orders latency per ${windowS} s window`, "ms", [
      { name: "p50", points: windows.map(pct((w) => w.postMs.p50)) },
      { name: "p99", points: windows.map(pct((w) => w.postMs.p99)) },
    ], marks),
    "e2e-latency.svg": seriesSvg(`POST → finalizado per ${windowS} s window`, "ms", [
      { name: "p50", points: windows.map(pct((w) => w.endToEndMs.p50)) },
      { name: "p99", points: windows.map(pct((w) => w.endToEndMs.p99)) },
    ], marks),
  };
}

/**
 * The latency figures the docs quote: over the 10 s windows with orders, the median, quartiles and
 * worst of each window's POST p50 and p99 and POST → `finalizado` p50 and p99.
 *
 * @param windows The report's windows.
 * @returns One line per figure, e.g. `POST p99 per window: median 33 ms (quartiles 25–57), worst 3242`.
 */
export function windowLatencyLines(windows: readonly Window[]): string[] {
  const line = (name: string, values: (number | null)[]) => {
    const sorted = values.filter((v) => v !== null).sort((a, b) => a - b);
    if (sorted.length === 0) return `${name} per window: no window`;
    const at = (p: number) => Math.round(percentile(sorted, p));
    return `${name} per window: median ${at(50)} ms (quartiles ${at(25)}–${at(75)}), worst ${
      at(100)
    }`;
  };
  const posted = windows.filter((w) => w.orders > 0);
  const finalized = windows.filter((w) => w.endToEndMs.finalized > 0);
  return [
    line("POST p50", posted.map((w) => w.postMs.p50)),
    line("POST p99", posted.map((w) => w.postMs.p99)),
    line("POST → finalizado p50", finalized.map((w) => w.endToEndMs.p50)),
    line("POST → finalizado p99", finalized.map((w) => w.endToEndMs.p99)),
  ];
}

/**
 * Each process's resident memory after warm-up, as the docs quote it: its lowest, median and
 * highest sample (nearest rank; a restarted process's lives together, under its name).
 *
 * @param samples Every sample, in time order.
 * @param fromS Warm-up: samples before this many seconds are left out.
 * @returns One line per process, e.g. `RSS of gateway after 720 s: 183–187 MiB (median 185, 289 samples)`.
 */
export function memoryRangeLines(samples: readonly Sample[], fromS: number): string[] {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.procs)))];
  return names.map((name) => {
    const rss = samples.filter((s) => s.t >= fromS)
      .map((s) => s.procs[name]?.rssMiB ?? NaN)
      .filter((v) => Number.isFinite(v))
      .sort((a, b) => a - b);
    if (rss.length === 0) return `RSS of ${name} after ${fromS} s: no sample`;
    const mib = (v: number) => Math.round(v);
    return `RSS of ${name} after ${fromS} s: ${mib(rss[0]!)}–${mib(rss.at(-1)!)} MiB (median ${
      mib(percentile(rss, 50))
    }, ${rss.length} samples)`;
  });
}
