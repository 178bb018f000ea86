/**
 * Tumbling event-time windows over purchase events, pure and serializable (the state is plain
 * JSON, so it can be checkpointed to Kafka).
 *
 * Policy: the watermark is the largest event time seen minus the allowed lateness; a window
 * closes (and is reported) once the watermark reaches its end. An event for a window that has
 * already closed is late: it counts in the totals (and in `late`), never in a closed window. When
 * the stream goes idle, {@linkcode flushWindows} closes every open window. Statistics are
 * mergeable (counts and a 0.1-minute histogram of `taps`), so windows of several partitions merge
 * into one.
 */
import type {
  AnalyticsState,
  PurchaseClass,
  PurchaseReport,
  PurchaseStats,
  WindowState,
} from "./purchase.ts";

// The state is part of the checkpoint record, so its types come from the wire schemas.
export type { AnalyticsState, PurchaseReport, PurchaseStats, WindowState };

/** Window size and lateness, in ms. */
export interface WindowOptions {
  sizeMs: number;
  latenessMs: number;
}

/** What windowing needs of an event. */
export interface WindowedEvent {
  /** Event time, ms since the epoch. */
  ts: number;
  taps: number | null;
  product: string;
  country: string;
}

/** Empty statistics. */
export function emptyStats(): PurchaseStats {
  return {
    events: 0,
    purchases: 0,
    visits: 0,
    short: 0,
    long: 0,
    tapsSum: 0,
    taps: {},
    products: {},
    countries: {},
  };
}

/** A fresh state. */
export function emptyState(): AnalyticsState {
  return { watermark: null, open: [], totals: emptyStats(), late: 0, invalid: 0 };
}

/**
 * `a + b` kept to the thousandth of a minute: a sum of such values is then the same in any order
 * (a window merged from partitions equals a direct count, so its mean rounds the same way), exact
 * up to about 9 × 10¹² minutes.
 */
function addMinutes(a: number, b: number): number {
  return Math.round((a + b) * 1_000) / 1_000;
}

function bump(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

/**
 * Adds one event to statistics.
 *
 * @param stats Changed in place.
 * @param event The event.
 * @param cls Its class.
 */
export function addEvent(stats: PurchaseStats, event: WindowedEvent, cls: PurchaseClass): void {
  stats.events++;
  if (cls === "visit") {
    stats.visits++;
    return;
  }
  stats.purchases++;
  stats[cls]++;
  const taps = event.taps ?? 0;
  stats.tapsSum = addMinutes(stats.tapsSum, taps);
  bump(stats.taps, String(Math.round(taps * 10)));
  bump(stats.products, event.product);
  bump(stats.countries, event.country);
}

/**
 * Merges statistics (e.g. the same window from several partitions).
 *
 * @returns New statistics; the inputs are unchanged.
 */
export function mergeStats(...all: readonly PurchaseStats[]): PurchaseStats {
  const out = emptyStats();
  for (const s of all) {
    out.events += s.events;
    out.purchases += s.purchases;
    out.visits += s.visits;
    out.short += s.short;
    out.long += s.long;
    out.tapsSum = addMinutes(out.tapsSum, s.tapsSum);
    for (const [k, v] of Object.entries(s.taps)) bump(out.taps, k, v);
    for (const [k, v] of Object.entries(s.products)) bump(out.products, k, v);
    for (const [k, v] of Object.entries(s.countries)) bump(out.countries, k, v);
  }
  return out;
}

/**
 * Places one event: in its window, or counted late; then closes the windows the new watermark
 * passed.
 *
 * @param state Changed in place.
 * @param event The event.
 * @param cls Its class.
 * @param options Window size and lateness.
 * @returns The windows this event closed (oldest first), and whether it was late.
 * @throws {RangeError} When the window size is not a whole number of ms of at least 1.
 */
export function applyEvent(
  state: AnalyticsState,
  event: WindowedEvent,
  cls: PurchaseClass,
  options: WindowOptions,
): { closed: WindowState[]; late: boolean } {
  if (!Number.isInteger(options.sizeMs) || options.sizeMs < 1) {
    throw new RangeError(
      `Cannot place event: window size must be a whole number of ms >= 1: current value is ${options.sizeMs}`,
    );
  }
  addEvent(state.totals, event, cls);
  const start = Math.floor(event.ts / options.sizeMs) * options.sizeMs;
  const end = start + options.sizeMs;
  if (state.watermark !== null && end <= state.watermark) {
    state.late++;
    return { closed: [], late: true };
  }
  let window = state.open.find((w) => w.start === start);
  if (window === undefined) {
    window = { start, end, stats: emptyStats() };
    state.open.push(window);
    state.open.sort((a, b) => a.start - b.start);
  }
  addEvent(window.stats, event, cls);
  const candidate = event.ts - options.latenessMs;
  if (state.watermark === null || candidate > state.watermark) state.watermark = candidate;
  return { closed: closeUpTo(state, state.watermark), late: false };
}

/**
 * Closes every open window (the stream went idle) and moves the watermark to the last one's end.
 *
 * @param state Changed in place.
 * @returns The closed windows, oldest first.
 */
export function flushWindows(state: AnalyticsState): WindowState[] {
  const last = state.open[state.open.length - 1];
  if (last === undefined) return [];
  state.watermark = Math.max(state.watermark ?? last.end, last.end);
  return closeUpTo(state, state.watermark);
}

function closeUpTo(state: AnalyticsState, watermark: number): WindowState[] {
  const closed = state.open.filter((w) => w.end <= watermark);
  if (closed.length > 0) state.open = state.open.filter((w) => w.end > watermark);
  return closed;
}

/**
 * Derives the report of statistics.
 *
 * @param stats Statistics (merged across partitions, if need be).
 * @returns Rates, `taps` percentiles (nearest rank over the 0.1-minute histogram) and top products.
 */
export function reportOf(stats: PurchaseStats): PurchaseReport {
  const buckets = Object.entries(stats.taps).map(([k, n]) => [Number(k), n] as const).sort((a, b) =>
    a[0] - b[0]
  );
  const at = (p: number) => {
    const rank = Math.max(1, Math.ceil((p / 100) * stats.purchases));
    let seen = 0;
    for (const [tenths, n] of buckets) {
      seen += n;
      if (seen >= rank) return tenths / 10;
    }
    return NaN;
  };
  return {
    events: stats.events,
    purchases: stats.purchases,
    visitsWithoutPurchase: stats.visits,
    conversionRate: stats.events === 0 ? 0 : stats.purchases / stats.events,
    shortPurchases: stats.short,
    longPurchases: stats.long,
    taps: stats.purchases === 0 ? null : {
      mean: Math.round((stats.tapsSum / stats.purchases) * 100) / 100,
      p50: at(50),
      p95: at(95),
    },
    topProducts: Object.entries(stats.products)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, 5)
      .map(([product, purchases]) => ({ product, purchases })),
    purchasesByCountry: Object.fromEntries(
      Object.entries(stats.countries).sort((a, b) => a[0].localeCompare(b[0])),
    ),
  };
}
