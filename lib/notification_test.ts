import assert from "node:assert/strict";
import { orderMail, orderMessageId } from "./notification.ts";
import { ORDER_STATES, type OrderTransition } from "./order.ts";

const transition = (state: OrderTransition["state"], seq: number): OrderTransition => ({
  v: 1,
  type: "OrderTransition",
  id: "o-7",
  order: { name: "Pizza", price: 12990, email: "cliente@example.cl" },
  state,
  seq,
  at: "2026-01-01T00:00:00.000Z",
  requestedAt: "2026-01-01T00:00:00.000Z",
  next: null,
});

Deno.test("orderMail() gives each state its own subject and a Message-ID fixed per order and state", () => {
  const mails = ORDER_STATES.map((s, i) => orderMail(transition(s, i + 1)));
  assert.equal(new Set(mails.map((m) => m.subject)).size, 4);
  assert.deepEqual(
    mails.map((m) => m.messageId),
    ORDER_STATES.map((s) => `<o-7.${s}@despacho.local>`),
  );
  assert.deepEqual(mails.map((m) => m.to), Array(4).fill("cliente@example.cl"));
  assert.deepEqual(orderMail(transition("entregando", 3)), mails[2]);
  assert.match(mails[0]!.text, /Pizza/);
  assert.equal(orderMessageId("x", "finalizado", "example.cl"), "<x.finalizado@example.cl>");
});
