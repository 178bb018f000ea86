import assert from "node:assert/strict";
import {
  compareWindows,
  directCounts,
  type EngineResult,
  formatComparison,
  type WindowCounts,
  windowsOfRecords,
} from "./spark_report.ts";

const T0 = Date.parse("2026-11-24T12:00:00.000Z");
const at = (ms: number) => new Date(T0 + ms).toISOString();
const counts = (c: Partial<WindowCounts>): WindowCounts => ({
  events: 0,
  purchases: 0,
  visits: 0,
  short: 0,
  long: 0,
  tapsSum: 0,
  ...c,
});

Deno.test("directCounts() places each event in its window and classifies it", async (t) => {
  const cases: {
    name: string;
    events: { ts: string; taps: number | null }[];
    want: [number, WindowCounts][];
  }[] = [
    {
      name: "visits (null and 0), short and long in one window",
      events: [
        { ts: at(0), taps: null },
        { ts: at(1), taps: 0 },
        { ts: at(2), taps: 29.9 },
        { ts: at(9_999), taps: 30 },
      ],
      want: [[
        T0,
        counts({ events: 4, purchases: 2, visits: 2, short: 1, long: 1, tapsSum: 59.9 }),
      ]],
    },
    {
      name: "a window's end belongs to the next one",
      events: [{ ts: at(9_999), taps: 1 }, { ts: at(10_000), taps: null }],
      want: [
        [T0, counts({ events: 1, purchases: 1, short: 1, tapsSum: 1 })],
        [T0 + 10_000, counts({ events: 1, visits: 1 })],
      ],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.deepEqual([...directCounts(c.events, 10_000)], c.want);
    });
  }
});

Deno.test("windowsOfRecords() adds up Despacho's partitions and reads Spark's windows", () => {
  const ours = (partition: number, events: number) =>
    JSON.stringify({
      v: 1,
      type: "PurchaseWindow",
      partition,
      start: at(0),
      end: at(10_000),
      stats: {
        events,
        purchases: events,
        visits: 0,
        short: events,
        long: 0,
        tapsSum: events * 2,
        taps: {},
        products: {},
        countries: {},
      },
      report: {},
    });
  const spark = JSON.stringify({
    v: 1,
    type: "SparkWindow",
    start: at(10_000),
    end: at(20_000),
    events: 3,
    purchases: 0,
    visits: 3,
    short: 0,
    long: 0,
    tapsSum: null,
    tapsMean: null,
  });
  const totals = JSON.stringify({ v: 1, type: "PurchaseTotals", partition: 0 });
  const got = windowsOfRecords([ours(0, 2), ours(1, 3), totals, ours(1, 3), spark, spark]);
  assert.deepEqual([...got.windows], [
    [T0, counts({ events: 5, purchases: 5, short: 5, tapsSum: 10 })],
    [T0 + 10_000, counts({ events: 3, visits: 3 })],
  ]);
  assert.equal(got.duplicates, 2);
});

Deno.test("compareWindows() counts equal, differing, missing and extra windows before a start", () => {
  const expected = new Map([
    [T0, counts({ events: 2, purchases: 1, visits: 1, short: 1, tapsSum: 0.1 + 0.2 })],
    [T0 + 10_000, counts({ events: 1, visits: 1 })],
    [T0 + 20_000, counts({ events: 1, visits: 1 })],
    [T0 + 30_000, counts({ events: 9 })],
  ]);
  const got = new Map([
    // Another summation order: equal within the tolerance.
    [T0, counts({ events: 2, purchases: 1, visits: 1, short: 1, tapsSum: 0.3 })],
    [T0 + 10_000, counts({ events: 2, visits: 2 })],
    [T0 - 10_000, counts({ events: 1 })],
  ]);
  const check = compareWindows(expected, got, T0 + 30_000, 1);
  assert.deepEqual(check, {
    expected: 3,
    equal: 1,
    missing: 1,
    extra: 1,
    duplicates: 1,
    differing: [
      {
        start: at(10_000),
        expected: counts({ events: 1, visits: 1 }),
        got: counts({ events: 2, visits: 2 }),
      },
      { start: at(20_000), expected: counts({ events: 1, visits: 1 }), got: null },
    ],
  });
});

Deno.test("formatComparison() shows each engine's median and spread side by side", () => {
  const run = (eventsPerSec: number, p99Ms: number, batches?: boolean): EngineResult => ({
    startupSeconds: 1,
    startupCpuSeconds: 1,
    backlog: {
      events: 100_000,
      seconds: 100_000 / eventsPerSec,
      eventsPerSec,
      cpuSeconds: 2,
      eventsPerCpuSecond: 50_000,
    },
    latency: {
      rate: 1000,
      seconds: 5,
      events: 5000,
      purchases: 3464,
      notified: 3464,
      p50Ms: 20,
      p99Ms,
      maxMs: 90,
      cpuSeconds: 1,
      textsEqual: 3464,
    },
    peakRssMiB: 100,
    peakRssByProcess: [{ name: "java", pid: 1, peakRssMiB: 99 }, {
      name: "chmod",
      pid: 2,
      peakRssMiB: 1,
    }],
    windows: { expected: 12, equal: 12, missing: 0, extra: 0, duplicates: 0, differing: [] },
    ...(batches
      ? {
        microBatches: {
          backlog: { notifications: { count: 1, p50Ms: 9000, maxMs: 9000 } },
          latency: { notifications: { count: 7, p50Ms: 800, maxMs: 900 } },
        },
      }
      : {}),
  });
  const lines = formatComparison([
    {
      engine: "despacho",
      label: "Despacho",
      runs: [run(30_000, 50), run(40_000, 70), run(35_000, 60)],
    },
    { engine: "spark", label: "Spark", runs: [run(5_000, 2_000, true)] },
  ]);
  const text = lines.join("\n");
  assert.match(text, /median of 3 runs/);
  assert.match(text, /\| \| Despacho \| Spark \|/);
  assert.match(
    text,
    /events\/s over a backlog of 100,000 events \| \*\*35,000\*\* \(30,000–40,000\) \| \*\*5,000\*\* \|/,
  );
  assert.match(text, /… p99, ms \| \*\*60\*\* \(50–70\) \| \*\*2,000\*\* \|/);
  assert.match(text, /peak RSS, MiB \| 100 \(100–100\); java 99 \| 100; java 99 \|/);
  assert.match(
    text,
    /for the backlog: .* \| — \(no micro-batches\) \| notifications 1, 9,000 ms \|/,
  );
  assert.match(
    text,
    /in the latency run: .* \| — \(no micro-batches\) \| notifications 7, 800 ms \|/,
  );
  assert.match(text, /windows equal to a direct count \| 36\/36 \| 12\/12 \|/);
  assert.match(
    text,
    /texts equal to Despacho's \| 10,392\/10,392; 10,392 \| 3,464\/3,464; 3,464 \|/,
  );
  assert.deepEqual(formatComparison([]), []);
});
