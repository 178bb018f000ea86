import assert from "node:assert/strict";
import { classifyPurchase, PurchaseSchema } from "../lib/purchase.ts";
import { emptyStats, type PurchaseStats } from "../lib/windows.ts";
import {
  closedWindows,
  directCount,
  fieldsApart,
  generatePurchases,
  readWords,
} from "./purchases.ts";

Deno.test("generatePurchases() is deterministic and every event is valid", async () => {
  const words = await readWords();
  const options = { count: 2000, seed: 11, startMs: Date.UTC(2026, 10, 24, 12), intervalMs: 5 };
  const events = generatePurchases(words, options);
  assert.deepEqual(events, generatePurchases(words, options));
  assert.notDeepEqual(events, generatePurchases(words, { ...options, seed: 12 }));
  for (const e of events) assert.ok(PurchaseSchema.safeParse(e).success, JSON.stringify(e));
  assert.equal(new Set(events.map((e) => e.id)).size, 2000);
});

Deno.test("generatePurchases() has visits, short and long purchases, and folio only with valid taps", async () => {
  const events = generatePurchases(await readWords(), { count: 1000, seed: 3, startMs: 0 });
  const classes = Object.groupBy(events, (e) => classifyPurchase(e));
  assert.ok((classes.visit?.length ?? 0) > 200);
  assert.ok((classes.short?.length ?? 0) > 300);
  assert.ok((classes.long?.length ?? 0) > 200);
  assert.ok(events.every((e) => (e.folio === null) === (e.taps === null || e.taps === 0)));
  assert.ok(events.some((e) => e.taps === null) && events.some((e) => e.taps === 0));
});

Deno.test("generatePurchases() spaces event times and can make late events", async () => {
  const events = generatePurchases(await readWords(), {
    count: 10,
    seed: 1,
    startMs: 0,
    intervalMs: 1000,
    late: { every: 5, byMs: 60_000 },
  });
  assert.deepEqual(events.map((e) => Date.parse(e.ts)), [
    0,
    1000,
    2000,
    3000,
    4000,
    -55_000,
    6000,
    7000,
    8000,
    9000,
  ]);
});

Deno.test("directCount() puts every event in its window and the totals", async () => {
  const events = generatePurchases(await readWords(), {
    count: 100,
    seed: 3,
    startMs: Date.UTC(2026, 10, 24, 12, 0, 5),
    intervalMs: 1_000,
  });
  const { windows, totals } = directCount(events, 10_000);
  assert.equal(totals.events, 100);
  // 5 s into a window, one event a second: 5 in the first window, 10 in each after, 5 in the last.
  assert.deepEqual([...windows.values()].map((r) => r.events), [5, ...Array(9).fill(10), 5]);
  assert.equal([...windows.keys()][0], "2026-11-24T12:00:00.000Z");
  assert.equal(
    [...windows.values()].reduce((n, r) => n + r.purchases, 0),
    events.filter((e) => classifyPurchase(e) !== "visit").length,
  );
});

Deno.test("closedWindows(): a window is final once every partition that published has moved past it", () => {
  const stats = (events: number): PurchaseStats => ({ ...emptyStats(), events });
  const at = (m: number) => `2026-11-24T12:0${m}:00.000Z`;
  const byStart = new Map([
    [at(0), new Map([[0, stats(2)], [1, stats(3)]])],
    [at(1), new Map([[0, stats(4)]])], // partition 1 had no events here, and has moved on
    [at(2), new Map([[1, stats(5)]])], // partition 0 has not closed it yet: open
  ]);
  const { reports, open } = closedWindows({ byStart });
  assert.deepEqual([...reports.keys()], [at(0), at(1)]);
  assert.equal(reports.get(at(0))!.events, 5);
  assert.equal(reports.get(at(1))!.events, 4);
  assert.equal(open, 1);
});

Deno.test("fieldsApart() names each field a published window differs in, both values", async () => {
  const events = generatePurchases(await readWords(), {
    count: 40,
    seed: 5,
    startMs: Date.UTC(2026, 10, 24, 12),
    intervalMs: 100,
  });
  const counted = directCount(events, 10_000).totals;
  assert.equal(fieldsApart(counted, counted), "");
  assert.equal(fieldsApart(counted, undefined), "no such window in the direct count");
  const published = { ...counted, events: counted.events + 1, taps: { ...counted.taps!, mean: 1 } };
  assert.equal(
    fieldsApart(published, counted),
    `events ${counted.events + 1} ≠ ${counted.events}, taps ${JSON.stringify(published.taps)} ≠ ${
      JSON.stringify(counted.taps)
    }`,
  );
});
