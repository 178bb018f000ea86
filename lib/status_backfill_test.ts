import assert from "node:assert/strict";
import type { InRecord } from "./kafka/records.ts";
import { backfillRecord } from "./status_backfill.ts";

const order = { name: "Pizza", price: 12990, email: "a@b.cl" };
const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";

function record(value: unknown, headers: Record<string, string> = {}): InRecord {
  return {
    topic: "src",
    partition: 0,
    offset: "7",
    key: "o1",
    value: new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value)),
    headers,
    timestamp: 0,
  };
}

Deno.test("backfillRecord() turns a transition into its step and a mail outcome into its mail", () => {
  const step = backfillRecord(
    "order_status",
    "transitions",
    record({
      v: 1,
      type: "OrderTransition",
      id: "o1",
      order,
      state: "preparando",
      seq: 2,
      at: "2026-01-01T00:00:02.000Z",
      requestedAt: "2026-01-01T00:00:00.000Z",
      next: null,
    }, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` }),
  );
  assert.equal(step?.key, "o1/step/2");
  assert.equal(step?.topic, "order_status");
  assert.equal(JSON.parse(step!.value).traceId, traceId);
  const mail = backfillRecord(
    "order_status",
    "notifications",
    record({
      v: 1,
      type: "OrderNotified",
      id: "o1",
      state: "recibido",
      to: "a@b.cl",
      messageId: "<m>",
      status: "sent",
      attempts: 1,
      at: "2026-01-01T00:00:01.000Z",
    }),
  );
  assert.equal(mail?.key, "o1/mail/recibido");
  assert.equal(JSON.parse(mail!.value).type, "OrderMail");
});

Deno.test("backfillRecord() skips what does not parse", () => {
  assert.equal(backfillRecord("s", "transitions", record("not json")), null);
  assert.equal(backfillRecord("s", "notifications", record({ v: 1, type: "Other" })), null);
});

Deno.test("backfillRecord() brings no fact of an erased order back, and writes its marker again", () => {
  const erased = (id: string) => id === "o1";
  const transition = record({
    v: 1,
    type: "OrderTransition",
    id: "o1",
    order,
    state: "recibido",
    seq: 1,
    at: "2026-01-01T00:00:00.000Z",
    requestedAt: "2026-01-01T00:00:00.000Z",
    next: null,
  });
  assert.equal(backfillRecord("s", "transitions", transition, erased), null);
  assert.equal(backfillRecord("s", "transitions", transition)?.key, "o1/step/1");
  const mail = record({
    v: 1,
    type: "OrderNotified",
    id: "o1",
    state: "recibido",
    to: "a@b.cl",
    messageId: "<m>",
    status: "sent",
    attempts: 1,
    at: "2026-01-01T00:00:01.000Z",
  });
  assert.equal(backfillRecord("s", "notifications", mail, erased), null);
  const e = { v: 1, type: "OrderErased", id: "o1", at: "2026-01-02T00:00:00.000Z" };
  assert.deepEqual(backfillRecord("s", "transitions", record(e), erased), {
    topic: "s",
    key: "o1/erased",
    value: JSON.stringify(e),
  });
});
