import assert from "node:assert/strict";
import { Admission } from "./admission.ts";
import { createLogger } from "../lib/log.ts";
import type { OrderState } from "../lib/order.ts";
import { OrderView } from "./order_view.ts";
import { orderApp } from "../infra/test_gateway.ts";

const order = { name: "Pizza", price: 12990, email: "a@b.cl" };

function setup() {
  const view = new OrderView();
  const app = orderApp({
    config: { TOPIC_ORDER_REQUESTS: "order_requests", MAX_BODY_BYTES: 1024 },
    admission: new Admission(
      { ready: () => true, publish: () => Promise.resolve() },
      { maxPending: 100, ackTimeoutMs: 5_000 },
    ),
    view,
    log: createLogger("test", "error", () => {}),
  });
  return { app, view };
}

const transition = (id: string, state: OrderState, seq: number) => ({
  v: 1 as const,
  type: "OrderTransition" as const,
  id,
  order,
  state,
  seq,
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
  requestedAt: new Date(Date.UTC(2026, 0, 1)).toISOString(),
  next: null,
});

Deno.test("GET /orders lists the latest orders newest first, with their links, up to limit", async () => {
  const { app, view } = setup();
  for (const id of ["a", "b", "c"]) view.accept(id, order);
  view.applyTransition(transition("a", "recibido", 1));
  const all = await (await app.request("/orders")).json();
  assert.deepEqual(all.orders.map((o: { id: string }) => o.id), ["c", "b", "a"]);
  assert.deepEqual(all.orders[2].links, { self: "/orders/a", events: "/orders/a/events" });
  assert.deepEqual(all.orders[2].history.map((h: { state: string }) => h.state), ["recibido"]);
  const two = await (await app.request("/orders?limit=2")).json();
  assert.deepEqual(two.orders.map((o: { id: string }) => o.id), ["c", "b"]);
});

Deno.test("GET /orders refuses a bad limit or watch with a 422 problem naming the field", async (t) => {
  const { app } = setup();
  const cases = [
    { query: "limit=0", field: "limit" },
    { query: "limit=101", field: "limit" },
    { query: "limit=2.5", field: "limit" },
    { query: "limit=many", field: "limit" },
    { query: "watch=yes", field: "watch" },
  ];
  for (const c of cases) {
    await t.step(c.query, async () => {
      const res = await app.request(`/orders?${c.query}`);
      assert.equal(res.status, 422);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      const problem = await res.json();
      assert.deepEqual(problem.errors.map((e: { field: string }) => e.field), [c.field]);
      assert.match(problem.detail, new RegExp(`^Cannot list orders: ${c.field} `));
    });
  }
});

Deno.test("GET /orders?watch=true sends the latest orders oldest first, then each order on every change", async () => {
  const { app, view } = setup();
  for (const id of ["a", "b", "c"]) view.accept(id, order);
  const res = await app.request("/orders?watch=true&limit=2");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const events = () =>
    [...text.matchAll(/event: order\ndata: (.*)\n/g)].map((m) => {
      const o = JSON.parse(m[1]!);
      return `${o.id}:${o.history.length}:${o.notifications.length}`;
    });
  const readUntil = async (count: number) => {
    while (events().length < count) text += (await reader.read()).value ?? "";
  };
  await readUntil(2);
  assert.deepEqual(events(), ["b:0:0", "c:0:0"]);
  view.applyTransition(transition("a", "recibido", 1));
  await readUntil(3);
  view.accept("d", order);
  await readUntil(4);
  view.applyNotification({
    v: 1,
    type: "OrderNotified",
    id: "a",
    state: "recibido",
    to: order.email,
    messageId: "<a.recibido@despacho.local>",
    status: "sent",
    attempts: 1,
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, 2)).toISOString(),
  });
  await readUntil(5);
  await reader.cancel();
  assert.deepEqual(events(), ["b:0:0", "c:0:0", "a:1:0", "d:0:0", "a:1:1"]);
});
