import assert from "node:assert/strict";
import {
  fitLine,
  type GrowthLimits,
  lagRecovery,
  memoryGrowth,
  type Point,
} from "./soak_verdict.ts";

const LIMITS: GrowthLimits = {
  warmupS: 60,
  minSamples: 6,
  maxSlopeMiBPerMin: 2,
  maxGrowthFraction: 0.1,
};

/** Samples every 10 s for `minutes`, RSS from `f(t)`. */
const series = (minutes: number, f: (t: number) => number): Point[] =>
  Array.from({ length: minutes * 6 + 1 }, (_, i) => ({ t: i * 10, v: f(i * 10) }));

Deno.test("fitLine() finds the least-squares slope and the fitted start", async (t) => {
  const cases: { name: string; points: Point[]; slope: number; start: number }[] = [
    {
      name: "a straight line",
      points: [{ t: 0, v: 1 }, { t: 1, v: 3 }, { t: 2, v: 5 }],
      slope: 2,
      start: 1,
    },
    { name: "flat", points: [{ t: 5, v: 7 }, { t: 6, v: 7 }, { t: 9, v: 7 }], slope: 0, start: 7 },
    {
      name: "noise around a line",
      points: [{ t: 0, v: 0 }, { t: 1, v: 2 }, { t: 2, v: 2 }, { t: 3, v: 4 }],
      slope: 1.2,
      start: 0.2,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const got = fitLine(c.points);
      assert.ok(Math.abs(got.slope - c.slope) < 1e-9, `slope ${got.slope}`);
      assert.ok(Math.abs(got.start - c.start) < 1e-9, `start ${got.start}`);
    });
  }
});

Deno.test("fitLine() refuses fewer than two points or one time", () => {
  assert.throws(() => fitLine([{ t: 0, v: 1 }]), {
    name: "RangeError",
    message: "Cannot fit a line: at least two points are needed: current count is 1",
  });
  assert.throws(() => fitLine([{ t: 3, v: 1 }, { t: 3, v: 2 }]), {
    name: "RangeError",
    message: "Cannot fit a line: every point is at the same time: 3",
  });
});

Deno.test("memoryGrowth() flags only growth past both limits after warm-up", async (t) => {
  const cases: { name: string; rss: Point[]; growing: boolean; judged: boolean }[] = [
    // 100 MiB + 3 MiB/min for 30 min: 87 MiB over 29 min of judged samples, 84 % of the start.
    { name: "a leak", rss: series(30, (s) => 100 + (3 * s) / 60), growing: true, judged: true },
    {
      name: "flat with noise",
      rss: series(30, (s) => 100 + ((s / 10) % 3)),
      growing: false,
      judged: true,
    },
    // 1 GiB JVM growing 3 MiB/min for 10 min: 27 MiB judged, under 10 % of the start.
    {
      name: "a large process's slow drift",
      rss: series(10, (s) => 1024 + (3 * s) / 60),
      growing: false,
      judged: true,
    },
    // 20 MiB at 1 MiB/min: 45 % in 9 min, but the slope is under 2 MiB/min.
    {
      name: "a small process under the slope",
      rss: series(10, (s) => 20 + s / 60),
      growing: false,
      judged: true,
    },
    // Growth during warm-up only (start-up), flat after it.
    {
      name: "start-up growth",
      rss: series(10, (s) => s < 60 ? 50 + s : 110),
      growing: false,
      judged: true,
    },
    {
      name: "too few samples after warm-up",
      rss: series(1.5, (s) => 100 + s),
      growing: false,
      judged: false,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const got = memoryGrowth(c.rss, LIMITS);
      assert.equal(got.growing, c.growing, JSON.stringify(got));
      assert.equal(got.judged, c.judged, JSON.stringify(got));
    });
  }
});

Deno.test("memoryGrowth() ignores samples of a process that was gone (NaN)", () => {
  const rss = series(10, (s) => 100 + (5 * s) / 60).map((p) => p.t > 300 ? { ...p, v: NaN } : p);
  const got = memoryGrowth(rss, LIMITS);
  assert.equal(got.samples, 25);
  assert.ok(Math.abs(got.slopeMiBPerMin - 5) < 1e-9);
});

Deno.test("lagRecovery() finds the first settled sample after the fault", async (t) => {
  const samples = [
    { t: 0, lag: { p: 2, n: 4 } },
    { t: 10, lag: { p: 800, n: 4 } },
    { t: 20, lag: { p: null, n: 4 } }, // a broker away: unreadable, not settled
    { t: 30, lag: { p: 40, n: 120 } },
    { t: 40, lag: { p: 5, n: 6 } },
  ];
  const cases = [
    { name: "settles within the limit", resumedAt: 12, within: 60, after: 28, ok: true },
    { name: "settles too late", resumedAt: 12, within: 20, after: 28, ok: false },
    { name: "already settled when resumed", resumedAt: 0, within: 60, after: 0, ok: true },
    { name: "never settles", resumedAt: 41, within: 60, after: null, ok: false },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.deepEqual(lagRecovery(samples, c.resumedAt, 50, c.within), {
        resumedAt: c.resumedAt,
        recoveredAfterS: c.after,
        ok: c.ok,
      });
    });
  }
});

Deno.test("lagRecovery() never counts a sample without groups as settled", () => {
  assert.equal(lagRecovery([{ t: 5, lag: {} }], 0, 50, 60).ok, false);
});
