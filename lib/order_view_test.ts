import assert from "node:assert/strict";
import type { OrderNotified, OrderTransition } from "./order.ts";
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
  assert.equal(view.accept("o1", order).state, "recibido");
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
