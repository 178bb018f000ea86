import assert from "node:assert/strict";
import { memoryRangeLines, type Sample, type Window, windowLatencyLines } from "./soak_figures.ts";

const window = (t: number, post: number, e2e: number | null): Window => ({
  t,
  orders: 10,
  accepted: 10,
  postMs: { p50: post, p95: post, p99: post * 2, max: post * 2 },
  endToEndMs: e2e === null
    ? { finalized: 0, p50: null, p95: null, p99: null, max: null }
    : { finalized: 10, p50: e2e, p95: e2e, p99: e2e * 2, max: e2e * 2 },
});

Deno.test("windowLatencyLines() gives the median, quartiles and worst over the windows, skipping those without a figure", () => {
  const windows = [
    window(0, 40, 100),
    window(10, 10, 300),
    window(20, 30, null),
    window(30, 20, 200),
    { ...window(40, 0, null), orders: 0 },
  ];
  assert.deepEqual(windowLatencyLines(windows), [
    "POST p50 per window: median 20 ms (quartiles 10–30), worst 40",
    "POST p99 per window: median 40 ms (quartiles 20–60), worst 80",
    "POST → finalizado p50 per window: median 200 ms (quartiles 100–300), worst 300",
    "POST → finalizado p99 per window: median 400 ms (quartiles 200–600), worst 600",
  ]);
  assert.deepEqual(windowLatencyLines([]), [
    "POST p50 per window: no window",
    "POST p99 per window: no window",
    "POST → finalizado p50 per window: no window",
    "POST → finalizado p99 per window: no window",
  ]);
});

Deno.test("memoryRangeLines() gives each process's lowest, median and highest RSS after warm-up", () => {
  const sample = (t: number, gateway: number, worker?: number | null): Sample => ({
    t,
    lag: {},
    procs: {
      gateway: { pid: 1, rssMiB: gateway, cpuPct: 0, fds: 0 },
      ...worker === undefined ? {} : {
        processing: { pid: 2, rssMiB: worker ?? NaN, cpuPct: 0, fds: 0 },
      },
    },
  });
  const samples = [
    sample(0, 500, 900), // warm-up: left out
    sample(10, 180.4, 120),
    sample(20, 186.6), // processing down (killed)
    sample(30, 183, null), // restarted, not measured yet
    sample(40, 181, 130),
  ];
  assert.deepEqual(memoryRangeLines(samples, 10), [
    "RSS of gateway after 10 s: 180–187 MiB (median 181, 4 samples)",
    "RSS of processing after 10 s: 120–130 MiB (median 120, 2 samples)",
  ]);
  assert.deepEqual(memoryRangeLines(samples, 50), [
    "RSS of gateway after 50 s: no sample",
    "RSS of processing after 50 s: no sample",
  ]);
});
