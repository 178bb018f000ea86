import assert from "node:assert/strict";
import { orderMail, orderMailStep, orderMessageId } from "./order_mail.ts";
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

Deno.test("orderMailStep() mails a transition of an order not erased, and only that", async (t) => {
  const erased = new Set(["gone"]);
  const isErased = (id: string) => erased.has(id);
  const tombstones = (id: string) =>
    ORDER_STATES.map((s) => ({ topic: "status", key: `${id}/mail/${s}`, value: null }));
  await t.step("a transition of an order not erased: its mail", () => {
    const step = orderMailStep(transition("preparando", 2), isErased, "status");
    assert.deepEqual(step, { kind: "mail", transition: transition("preparando", 2) });
  });
  await t.step("OrderErased: no mail, the order's four mail keys tombstoned", () => {
    const e = { v: 1, type: "OrderErased", id: "o-7", at: "2026-01-02T00:00:00.000Z" } as const;
    assert.deepEqual(orderMailStep(e, isErased, "status"), {
      kind: "erase",
      records: tombstones("o-7"),
      erased: "o-7",
    });
  });
  await t.step("a transition (or a retry's) of an erased order: no mail, tombstones again", () => {
    const late = { ...transition("entregando", 3), id: "gone" };
    assert.deepEqual(orderMailStep(late, isErased, "status"), {
      kind: "erase",
      records: tombstones("gone"),
      erased: "gone",
    });
  });
});
