import assert from "node:assert/strict";
import { loadConfig } from "../lib/config.ts";
import { DespachoError } from "../lib/errors.ts";
import type { OutRecord } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import { OrderErasureRequestedSchema } from "../lib/order.ts";
import { OrderStore } from "./order_store.ts";
import { ACCESS_ENV, STAFF_HEADERS, testAccess } from "../infra/test_access.ts";
import { Admission } from "./admission.ts";
import { PurchaseAnalyticsView } from "./purchase_analytics.ts";
import { createGatewayApp } from "./routes.ts";

const ORDER = { name: "Ana Pérez", price: 12990, email: "ana.perez@example.cl" };

/** The whole gateway app on an on-disk-format store in memory, with the records it writes. */
function setup() {
  const config = loadConfig({
    ...ACCESS_ENV,
    TOPIC_ORDER_REQUESTS: "r",
    TOPIC_ORDER_ERASURES: "erasures",
  });
  const written: OutRecord[] = [];
  let refuse = false;
  const lines: string[] = [];
  const log = createLogger("test", "info", (line) => lines.push(line));
  const store = new OrderStore(":memory:", { topic: "status" });
  const app = createGatewayApp({
    config,
    admission: new Admission({
      ready: () => true,
      publish: (record) => {
        if (refuse) {
          return Promise.reject(
            new DespachoError("KAFKA_UNAVAILABLE", "Cannot publish: no broker", {
              retriable: true,
            }),
          );
        }
        written.push(record);
        return Promise.resolve();
      },
    }, { maxPending: 100, ackTimeoutMs: 5_000 }),
    view: store,
    analytics: new PurchaseAnalyticsView(),
    log,
    access: testAccess(),
  });
  const place = async () => {
    const res = await app.request("/orders", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(ORDER),
    });
    assert.equal(res.status, 202);
    return (await res.json()).id as string;
  };
  const erase = (id: string) =>
    app.request(`/orders/${id}`, { method: "DELETE", headers: STAFF_HEADERS });
  return {
    app,
    store,
    written,
    lines,
    place,
    erase,
    refuseWrites: (on: boolean) => refuse = on,
  };
}

Deno.test("DELETE /orders/{id} writes one erasure request and the order answers 404 from then on", async () => {
  const { app, store, written, lines, place, erase } = setup();
  const id = await place();
  const other = await place();
  written.length = 0;
  const res = await erase(id);
  assert.equal(res.status, 202);
  assert.deepEqual(await res.json(), { id, erasure: "requested" });
  // One record, keyed by the order, on the erasures topic, holding nothing personal.
  assert.equal(written.length, 1);
  assert.equal(written[0]!.topic, "erasures");
  assert.equal(written[0]!.key, id);
  const request = OrderErasureRequestedSchema.parse(JSON.parse(written[0]!.value));
  assert.equal(request.id, id);
  assert.ok(!written[0]!.value.includes("ana"), "no personal data in the request");
  for (const path of [`/orders/${id}`, `/orders/${id}/events`]) {
    const gone = await app.request(path);
    assert.equal(gone.status, 404, path);
    await gone.body?.cancel();
  }
  const list = await (await app.request("/orders?limit=10", { headers: STAFF_HEADERS })).json();
  assert.deepEqual(list.orders.map((o: { id: string }) => o.id), [other]);
  // A second erasure finds nothing, and a late fact of the order brings nothing back.
  const again = await erase(id);
  assert.equal(again.status, 404);
  await again.body?.cancel();
  store.apply(0, [{
    key: `${id}/step/1`,
    value: new TextEncoder().encode(JSON.stringify({
      v: 1,
      type: "OrderStep",
      id,
      order: ORDER,
      state: "recibido",
      seq: 1,
      at: "2026-12-05T12:00:00.000Z",
      requestedAt: "2026-12-05T12:00:00.000Z",
      traceId: null,
    })),
  }], "1");
  assert.equal(store.get(id), undefined);
  assert.equal((await app.request(`/orders/${other}`)).status, 200, "the other order stays");
  // The audit record: who, which id; never the data.
  const audit = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "staff erased order");
  assert.equal(audit.length, 1);
  assert.equal(audit[0].id, id);
  assert.equal(audit[0].via, "staff-token");
  assert.ok(!lines.join("\n").includes("ana.perez"), "no personal data in any line");
});

Deno.test("DELETE /orders/{id}: an unknown id is 404, and a refused write erases nothing (503)", async () => {
  const { app, written, place, erase, refuseWrites } = setup();
  const unknown = await erase("no-such-order");
  assert.equal(unknown.status, 404);
  assert.match(unknown.headers.get("content-type") ?? "", /problem\+json/);
  await unknown.body?.cancel();
  const id = await place();
  written.length = 0;
  refuseWrites(true);
  const refused = await erase(id);
  assert.equal(refused.status, 503);
  assert.ok(refused.headers.get("retry-after") !== null);
  await refused.body?.cancel();
  assert.equal(written.length, 0);
  const still = await app.request(`/orders/${id}`);
  assert.equal(still.status, 200, "nothing was erased: the caller tries again");
  await still.body?.cancel();
});

Deno.test("an order's event stream ends when the order is erased", async () => {
  const { app, place, erase } = setup();
  const id = await place();
  const res = await app.request(`/orders/${id}/events`);
  assert.equal(res.status, 200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const erased = await erase(id);
  assert.equal(erased.status, 202);
  await erased.body?.cancel();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  assert.match(text, /event: end/);
  assert.ok(!text.includes("ana.perez"), "the stream said nothing of the erased order");
});
