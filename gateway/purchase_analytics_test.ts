import { OPEN_GUARDS } from "../infra/test_access.ts";
import assert from "node:assert/strict";
import { emptyStats } from "../lib/windows.ts";
import { createPurchaseAnalyticsRoutes, PurchaseAnalyticsView } from "./purchase_analytics.ts";

/** The start of the `i`-th 10 s window after 2026-11-24T12:00:00Z, and its end. */
const at = (i: number) => new Date(Date.UTC(2026, 10, 24, 12, 0, 10 * i)).toISOString();
const stats = { ...emptyStats(), events: 1, visits: 1 };

/** A view holding windows 0 … n-1 (applied in the order given), one partition each. */
function viewOf(order: readonly number[]): PurchaseAnalyticsView {
  const view = new PurchaseAnalyticsView();
  for (const i of order) {
    view.apply({ v: 1, type: "PurchaseWindow", partition: 0, start: at(i), end: at(i + 1), stats });
  }
  return view;
}
const starts = (view: PurchaseAnalyticsView, limit: number) =>
  view.windows(limit).map((w) => w.start);

Deno.test("PurchaseAnalyticsView keeps the latest 360 windows, forgetting the oldest by start", async (t) => {
  await t.step("360 windows: all kept", () => {
    const view = viewOf([...Array(360).keys()]);
    assert.equal(view.windows(1000).length, 360);
    assert.notEqual(view.window(at(0)), undefined);
  });
  await t.step("361 windows, the oldest arriving last: it is the one forgotten", () => {
    const view = viewOf([...Array(361).keys()].map((i) => (i + 1) % 361));
    assert.equal(view.windows(1000).length, 360);
    assert.equal(view.window(at(0)), undefined);
    assert.notEqual(view.window(at(1)), undefined);
    assert.notEqual(view.window(at(360)), undefined);
  });
});

Deno.test("PurchaseAnalyticsView.windows() answers the latest windows, newest first", () => {
  const view = viewOf([2, 0, 3, 1]);
  assert.deepEqual(starts(view, 3), [at(3), at(2), at(1)]);
  assert.deepEqual(starts(view, 10), [at(3), at(2), at(1), at(0)]);
});

Deno.test("GET /analytics/purchases takes limit from 1 to 360, 20 when absent, 0 or not a number", async (t) => {
  const app = createPurchaseAnalyticsRoutes(viewOf([...Array(400).keys()]), OPEN_GUARDS.staff);
  const cases: [string, number][] = [
    ["", 20],
    ["?limit=1", 1],
    ["?limit=-5", 1],
    ["?limit=0", 20],
    ["?limit=many", 20],
    ["?limit=359", 359],
    ["?limit=1000", 360],
  ];
  for (const [query, want] of cases) {
    await t.step(query || "no limit", async () => {
      const res = await app.request(`/purchases${query}`);
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.windows.length, want);
      assert.equal(body.windows[0].start, at(399), "newest first");
    });
  }
});
