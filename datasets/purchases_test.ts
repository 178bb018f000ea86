import assert from "node:assert/strict";
import { classifyPurchase, PurchaseSchema } from "../lib/purchase.ts";
import { generatePurchases, readWords } from "./purchases.ts";

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
