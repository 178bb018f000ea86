import assert from "node:assert/strict";
import type { PurchaseClass } from "./purchase.ts";
import {
  applyEvent,
  emptyState,
  flushWindows,
  mergeStats,
  reportOf,
  type WindowedEvent,
} from "./windows.ts";

const options = { sizeMs: 10_000, latenessMs: 2_000 };
const ev = (
  ts: number,
  taps: number | null = 10,
  product = "Reloj",
  country = "Chile",
): WindowedEvent => ({ ts, taps, product, country });
const cls = (taps: number | null): PurchaseClass =>
  taps === null || taps === 0 ? "visit" : taps < 30 ? "short" : "long";

Deno.test("applyEvent() assigns events to tumbling windows by event time", () => {
  const state = emptyState();
  for (const ts of [0, 9_999, 10_000, 5_000]) applyEvent(state, ev(ts), "short", options);
  assert.deepEqual(state.open.map((w) => [w.start, w.end, w.stats.events]), [[0, 10_000, 3], [
    10_000,
    20_000,
    1,
  ]]);
});

Deno.test("applyEvent() closes a window once the watermark (max event time - lateness) passes its end", async (t) => {
  const state = emptyState();
  await t.step("an event at 11.999 s keeps [0, 10) open: watermark 9.999 s", () => {
    applyEvent(state, ev(1_000), "short", options);
    const { closed } = applyEvent(state, ev(11_999), "short", options);
    assert.deepEqual(closed, []);
    assert.equal(state.watermark, 9_999);
  });
  await t.step("an event still in [0, 10) is on time", () => {
    const { late } = applyEvent(state, ev(9_500), "short", options);
    assert.equal(late, false);
  });
  await t.step("an event at 12 s closes [0, 10) with its two events", () => {
    const { closed } = applyEvent(state, ev(12_000), "short", options);
    assert.deepEqual(closed.map((w) => [w.start, w.stats.events]), [[0, 2]]);
  });
  await t.step("an event for the closed window is late: totals only", () => {
    const { late, closed } = applyEvent(state, ev(3_000, null), "visit", options);
    assert.equal(late, true);
    assert.deepEqual(closed, []);
    assert.equal(state.late, 1);
    assert.equal(state.totals.events, 5);
    assert.equal(state.totals.visits, 1);
    assert.deepEqual(state.open.map((w) => [w.start, w.stats.events]), [[10_000, 2]]);
  });
  await t.step("each step of the watermark closes the windows it passes, oldest first", () => {
    assert.deepEqual(applyEvent(state, ev(25_000), "short", options).closed.map((w) => w.start), [
      10_000,
    ]);
    assert.deepEqual(applyEvent(state, ev(45_000), "short", options).closed.map((w) => w.start), [
      20_000,
    ]);
  });
  await t.step("flushWindows() closes what is left and later events for it are late", () => {
    assert.deepEqual(flushWindows(state).map((w) => w.start), [40_000]);
    assert.deepEqual(state.open, []);
    assert.equal(applyEvent(state, ev(49_000), "short", options).late, true);
    assert.deepEqual(flushWindows(state), []);
  });
});

Deno.test("state survives a JSON round trip (checkpoint) and gives the same results", () => {
  const events = Array.from(
    { length: 200 },
    (_, i) => ev(i * 137, i % 5 === 0 ? null : (i % 60) + 0.5, `p${i % 7}`, `c${i % 3}`),
  );
  const straight = emptyState();
  const closedStraight = events.flatMap((e) =>
    applyEvent(straight, e, cls(e.taps), options).closed
  );
  let restored = emptyState();
  const closedRestored = events.flatMap((e, i) => {
    if (i === 100) restored = JSON.parse(JSON.stringify(restored));
    return applyEvent(restored, e, cls(e.taps), options).closed;
  });
  assert.deepEqual(closedRestored, closedStraight);
  assert.deepEqual(restored, straight);
});

Deno.test("reportOf() gives rates, taps percentiles from the histogram, top products and countries", () => {
  const state = emptyState();
  const taps = [null, 0, 5, 10, 20, 30, 45.5, 60, 12.3, 17.8];
  taps.forEach((t, i) =>
    applyEvent(
      state,
      ev(i, t, i % 2 ? "Reloj" : "Colchón", i < 5 ? "Chile" : "Perú"),
      cls(t),
      options,
    )
  );
  const report = reportOf(state.totals);
  assert.deepEqual(
    { ...report, taps: report.taps },
    {
      events: 10,
      purchases: 8,
      visitsWithoutPurchase: 2,
      conversionRate: 0.8,
      shortPurchases: 5,
      longPurchases: 3,
      taps: { mean: 25.08, p50: 17.8, p95: 60 },
      topProducts: [{ product: "Colchón", purchases: 4 }, { product: "Reloj", purchases: 4 }],
      purchasesByCountry: { Chile: 3, "Perú": 5 },
    },
  );
  assert.equal(reportOf(emptyState().totals).taps, null);
});

Deno.test("reportOf() at its edges: nearest rank rounded up, taps to the nearest tenth, five top products", async (t) => {
  await t.step("p95 of 11 purchases is the 11th (rank 10.45 rounds up), p50 the 6th", () => {
    const state = emptyState();
    const products = ["A", "A", "A", "B", "B", "C", "C", "D", "E", "F", "G"];
    products.forEach((product, i) => applyEvent(state, ev(i, i + 1, product), "short", options));
    const report = reportOf(state.totals);
    assert.deepEqual(report.taps, { mean: 6, p50: 6, p95: 11 });
    assert.deepEqual(report.topProducts, [
      { product: "A", purchases: 3 },
      { product: "B", purchases: 2 },
      { product: "C", purchases: 2 },
      { product: "D", purchases: 1 },
      { product: "E", purchases: 1 },
    ]);
  });
  await t.step("2.96 minutes counts as 3.0, not 2.9", () => {
    const state = emptyState();
    applyEvent(state, ev(0, 2.96), "short", options);
    assert.deepEqual(reportOf(state.totals).taps, { mean: 2.96, p50: 3, p95: 3 });
  });
});

Deno.test("applyEvent() takes windows of 1 ms and refuses smaller or fractional ones", async (t) => {
  await t.step("1 ms", () => {
    const state = emptyState();
    applyEvent(state, ev(5), "short", { sizeMs: 1, latenessMs: 0 });
    const { closed } = applyEvent(state, ev(6), "short", { sizeMs: 1, latenessMs: 0 });
    assert.deepEqual(closed.map((w) => [w.start, w.end]), [[5, 6]]);
  });
  for (const sizeMs of [0, 1.5]) {
    await t.step(`${sizeMs} ms`, () => {
      assert.throws(() => applyEvent(emptyState(), ev(0), "short", { sizeMs, latenessMs: 0 }), {
        name: "RangeError",
        message:
          `Cannot place event: window size must be a whole number of ms >= 1: current value is ${sizeMs}`,
      });
    });
  }
});

Deno.test("mergeStats() of per-partition windows equals the stats of all events together", () => {
  const a = emptyState();
  const b = emptyState();
  const all = emptyState();
  for (let i = 0; i < 50; i++) {
    const e = ev(i, i % 4 === 0 ? null : i, `p${i % 3}`, `c${i % 2}`);
    applyEvent(i % 2 ? a : b, e, cls(e.taps), options);
    applyEvent(all, e, cls(e.taps), options);
  }
  assert.deepEqual(reportOf(mergeStats(a.totals, b.totals)), reportOf(all.totals));
});

Deno.test("the mean of taps is the same whatever the order events and partitions are added in", () => {
  // Tenths of a minute, as the generator and the report's own histogram have them: added in
  // another order their floating-point sum differs in its last bits, and a mean at a rounding
  // edge (x.xx5) came out 0.01 apart from a direct count (seen once in the one-hour soak).
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let differ = 0;
  for (let trial = 0; trial < 2_000; trial++) {
    const taps = Array.from(
      { length: 3 + Math.floor(next() * 40) },
      () => Math.round((0.1 + next() * 89.9) * 10) / 10,
    );
    const all = emptyState();
    const parts = [emptyState(), emptyState(), emptyState()];
    for (const [i, t] of taps.entries()) {
      applyEvent(all, ev(i, t), cls(t), options);
      applyEvent(parts[Math.floor(next() * 3)]!, ev(i, t), cls(t), options);
    }
    const merged = reportOf(mergeStats(...parts.reverse().map((p) => p.totals)));
    if (merged.taps!.mean !== reportOf(all.totals).taps!.mean) differ++;
  }
  assert.equal(differ, 0);
});
