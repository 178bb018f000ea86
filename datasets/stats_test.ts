import assert from "node:assert/strict";
import { histogram, openLoopSchedule, percentile, spread, summarize } from "./stats.ts";

Deno.test("percentile() uses nearest rank", async (t) => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  const cases: [number[], number, number][] = [
    [values, 50, 50],
    [values, 95, 95],
    [values, 99, 99],
    [values, 100, 100],
    [values, 0, 1],
    [[5], 99, 5],
    [[1, 2, 3, 4], 50, 2],
    [[1, 2, 3, 4], 51, 3],
  ];
  for (const [sample, p, want] of cases) {
    await t.step(
      `p${p} of ${sample.length} values`,
      () => assert.equal(percentile(sample, p), want),
    );
  }
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.throws(() => percentile([1], 101), {
    name: "RangeError",
    message: "Cannot compute percentile: p must be from 0 to 100: current value is 101",
  });
});

Deno.test("summarize() gives count, mean and percentiles of an unsorted sample", () => {
  assert.deepEqual(summarize([30, 10, 20, 40]), {
    count: 4,
    mean: 25,
    p50: 20,
    p95: 40,
    p99: 40,
    max: 40,
    min: 10,
  });
  assert.equal(summarize([]).count, 0);
});

Deno.test("histogram() counts into equal buckets and clamps outliers to the edges", () => {
  assert.deepEqual(histogram([0, 1, 2, 5, 9.99, 10, -3, 42], 2, 0, 10), {
    from: [0, 5],
    counts: [4, 4],
  });
});

Deno.test("openLoopSchedule() spaces requests evenly, or sends a spike at once", () => {
  assert.deepEqual(openLoopSchedule(4, 2), [0, 500, 1000, 1500]);
  assert.deepEqual(openLoopSchedule(3, "spike"), [0, 0, 0]);
  assert.throws(() => openLoopSchedule(3, 0), {
    message: "Cannot schedule load: rate must be above 0: current value is 0",
  });
});

Deno.test("spread() gives the median, smallest and largest, NaNs left out", async (t) => {
  for (
    const [values, want] of [
      [[5], { median: 5, min: 5, max: 5 }],
      [[3, 1, 2], { median: 2, min: 1, max: 3 }],
      [[4, 1, 3, 2], { median: 2.5, min: 1, max: 4 }],
      [[NaN, 7, 9], { median: 8, min: 7, max: 9 }],
    ] as const
  ) {
    await t.step(
      JSON.stringify(values),
      () =>
        assert.deepEqual(spread(values), {
          ...want,
          n: values.filter((v) => !Number.isNaN(v)).length,
        }),
    );
  }
});
