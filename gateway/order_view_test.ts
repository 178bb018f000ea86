import assert from "node:assert/strict";
import type { OrderNotified, OrderTransition } from "../lib/order.ts";
import { type OrderEvent, OrderView } from "./order_view.ts";

const order = { name: "Pizza", price: 12990, email: "a@b.cl" };
const t = (id: string, state: OrderTransition["state"], seq: number): OrderTransition => ({
  v: 1,
  type: "OrderTransition",
  id,
  order,
  state,
  seq,
  at: `2026-01-01T00:00:0${seq}.000Z`,
  requestedAt: "2026-01-01T00:00:00.000Z",
  next: null,
});
const n = (
  id: string,
  state: OrderNotified["state"],
  status: "sent" | "failed",
): OrderNotified => ({
  v: 1,
  type: "OrderNotified",
  id,
  state,
  to: "a@b.cl",
  messageId: `<${id}.${state}@despacho.local>`,
  status,
  attempts: 1,
  at: "2026-01-01T00:00:00.000Z",
});

Deno.test("OrderView applies transitions idempotently and in seq order", () => {
  const view = new OrderView();
  assert.equal(view.accept("o1", order)?.state, "recibido");
  assert.equal(view.applyTransition(t("o1", "preparando", 2)), true);
  assert.equal(view.applyTransition(t("o1", "recibido", 1)), true);
  assert.equal(view.applyTransition(t("o1", "recibido", 1)), false);
  const status = view.get("o1")!;
  assert.deepEqual(status.history.map((h) => h.state), ["recibido", "preparando"]);
  assert.equal(status.state, "preparando");
});

Deno.test("OrderView keeps one notification per state and ignores unknown orders", () => {
  const view = new OrderView();
  assert.equal(view.applyNotification(n("o1", "recibido", "sent")), false);
  view.applyTransition(t("o1", "recibido", 1));
  view.applyNotification(n("o1", "recibido", "failed"));
  view.applyNotification(n("o1", "recibido", "sent"));
  assert.deepEqual(view.get("o1")!.notifications.map((x) => x.status), ["sent"]);
});

Deno.test("OrderView tells subscribers about changes until they unsubscribe", () => {
  const view = new OrderView();
  const seen: OrderEvent[] = [];
  const stop = view.subscribe("o1", (e) => seen.push(e));
  view.applyTransition(t("o1", "recibido", 1));
  view.applyTransition(t("o1", "recibido", 1));
  view.applyNotification(n("o1", "recibido", "sent"));
  stop();
  view.applyTransition(t("o1", "preparando", 2));
  assert.deepEqual(seen.map((e) => e.kind), ["state", "notification"]);
});

Deno.test("OrderView forgets the oldest order beyond its bound", () => {
  const view = new OrderView({ maxOrders: 2 });
  for (const id of ["a", "b", "c"]) view.accept(id, order);
  assert.deepEqual(["a", "b", "c"].map((id) => view.get(id) !== undefined), [false, true, true]);
});

Deno.test("OrderView.recent() lists the latest orders newest first, up to the limit", async (ctx) => {
  const view = new OrderView();
  for (const id of ["a", "b", "c"]) view.accept(id, order);
  view.applyTransition(t("d", "recibido", 1)); // learnt from Kafka, not accepted here
  const cases: { limit: number; ids: string[] }[] = [
    { limit: 0, ids: [] },
    { limit: 1, ids: ["d"] },
    { limit: 3, ids: ["d", "c", "b"] },
    { limit: 10, ids: ["d", "c", "b", "a"] },
  ];
  for (const c of cases) {
    await ctx.step(`limit ${c.limit}`, () => {
      assert.deepEqual(view.recent(c.limit).map((s) => s.id), c.ids);
    });
  }
});

Deno.test("OrderView.watch() reports every change of any order once, until it stops", () => {
  const view = new OrderView();
  const seen: string[] = [];
  const stop = view.watch((s) => seen.push(`${s.id}:${s.state}:${s.notifications.length}`));
  view.accept("o1", order);
  view.accept("o1", order); // known: no change
  view.applyTransition(t("o1", "recibido", 1));
  view.applyTransition(t("o1", "recibido", 1)); // a redelivery: no change
  view.applyNotification(n("o1", "recibido", "sent"));
  view.applyNotification(n("o2", "recibido", "sent")); // unknown order: no change
  view.applyTransition(t("o2", "recibido", 1));
  stop();
  view.applyTransition(t("o1", "preparando", 2));
  assert.deepEqual(seen, ["o1:recibido:0", "o1:recibido:0", "o1:recibido:1", "o2:recibido:0"]);
});
