import assert from "node:assert/strict";
import { DespachoError } from "../lib/errors.ts";
import type { OutRecord } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import type { OrderTransition } from "../lib/order.ts";
import { OrderView } from "./order_view.ts";
import { OrderStore } from "./order_store.ts";
import { Admission } from "./admission.ts";
import { orderApp } from "../infra/test_gateway.ts";
import { Drain } from "./drain.ts";
import type { Publisher } from "./publisher.ts";

const quiet = createLogger("test", "error", () => {});
const config = { TOPIC_ORDER_REQUESTS: "order_requests", MAX_BODY_BYTES: 1024 };
const good = { name: "Pizza napolitana", price: 12990, email: "cliente@example.cl" };

/** A publisher that records what it would have written to Kafka. */
function recordingPublisher(behaviour: "ok" | "down" | "slow" = "ok") {
  const sent: OutRecord[] = [];
  const publisher: Publisher = {
    ready: () => behaviour !== "down",
    publish(record) {
      if (behaviour === "ok") {
        sent.push(record);
        return Promise.resolve();
      }
      if (behaviour === "slow") return new Promise(() => {});
      return Promise.reject(
        new DespachoError("KAFKA_UNAVAILABLE", "Cannot publish: Kafka is unreachable", {
          retriable: true,
        }),
      );
    },
  };
  return { publisher, sent };
}

/** A publisher whose writes are acknowledged when the test says so. */
function heldPublisher() {
  const writes: { record: OutRecord; ack: () => void }[] = [];
  const publisher: Publisher = {
    ready: () => true,
    publish: (record) => new Promise((resolve) => writes.push({ record, ack: resolve })),
  };
  return { publisher, writes };
}

function setup(behaviour: "ok" | "down" | "slow" = "ok") {
  const { publisher, sent } = recordingPublisher(behaviour);
  const view = new OrderView();
  let n = 0;
  const admission = new Admission(publisher, { maxPending: 100, ackTimeoutMs: 50 });
  const app = orderApp({ config, admission, view, log: quiet, newId: () => `order-${++n}` });
  return { app, view, sent };
}

const until = async (done: () => boolean) => {
  while (!done()) await new Promise((r) => setTimeout(r, 1));
};

const post = (
  body: string,
  headers: Record<string, string> = { "content-type": "application/json" },
) => new Request("http://gateway/orders", { method: "POST", body, headers });

Deno.test("POST /orders refuses bad input with a problem that names the field, publishing nothing", async (t) => {
  const long = "x".repeat(101);
  const cases: { name: string; request: Request; status: number; fields: string[] }[] = [
    { name: "malformed JSON", request: post("{name:"), status: 400, fields: ["(body)"] },
    { name: "JSON that is not an object", request: post("[1,2]"), status: 422, fields: ["(body)"] },
    {
      name: "missing name",
      request: post(JSON.stringify({ price: 10, email: "a@b.cl" })),
      status: 422,
      fields: ["name"],
    },
    {
      name: "empty name",
      request: post(JSON.stringify({ ...good, name: "" })),
      status: 422,
      fields: ["name"],
    },
    {
      name: "name of 101 characters",
      request: post(JSON.stringify({ ...good, name: long })),
      status: 422,
      fields: ["name"],
    },
    {
      name: "price as a string",
      request: post(JSON.stringify({ ...good, price: "12990" })),
      status: 422,
      fields: ["price"],
    },
    {
      name: "price below 1",
      request: post(JSON.stringify({ ...good, price: 0.5 })),
      status: 422,
      fields: ["price"],
    },
    {
      name: "price above 1,000,000",
      request: post(JSON.stringify({ ...good, price: 1_000_000.01 })),
      status: 422,
      fields: ["price"],
    },
    {
      name: "email without @",
      request: post(JSON.stringify({ ...good, email: "cliente.example.cl" })),
      status: 422,
      fields: ["email"],
    },
    {
      name: "email with CR/LF",
      request: post(JSON.stringify({ ...good, email: "a@b.cl\r\nBcc: x@y.cl" })),
      status: 422,
      fields: ["email"],
    },
    {
      name: "an extra field",
      request: post(JSON.stringify({ ...good, discount: 10 })),
      status: 422,
      fields: ["discount"],
    },
    { name: "null body", request: post("null"), status: 422, fields: ["(body)"] },
    {
      name: "wrong content type",
      request: post(JSON.stringify(good), { "content-type": "text/plain" }),
      status: 415,
      fields: ["content-type"],
    },
    {
      name: "no content type",
      request: new Request("http://gateway/orders", {
        method: "POST",
        body: new Blob([JSON.stringify(good)]),
      }),
      status: 415,
      fields: ["content-type"],
    },
    {
      name: "body over the limit",
      request: post(JSON.stringify({ ...good, name: "x".repeat(2000) })),
      status: 413,
      fields: [],
    },
    {
      name: "a bad Idempotency-Key",
      request: post(JSON.stringify(good), {
        "content-type": "application/json",
        "Idempotency-Key": "",
      }),
      status: 400,
      fields: ["Idempotency-Key"],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const { app, sent } = setup();
      const res = await app.request(c.request);
      assert.equal(res.status, c.status);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      const body = await res.json();
      assert.equal(body.status, c.status);
      assert.equal(typeof body.detail, "string");
      const fields = [...new Set((body.errors ?? []).map((e: { field: string }) => e.field))];
      assert.deepEqual(fields, c.fields);
      assert.equal(sent.length, 0, "nothing may reach Kafka");
    });
  }
});

Deno.test("POST /orders refuses a control character in any text field with a 422 naming the field", async (t) => {
  const controls = [
    "\r\nBcc: victim@evil.test",
    "\n",
    "\u0000",
    "\t",
    "\u001b[31m",
    "\u007f",
    "\u0085",
  ];
  for (const field of ["name", "email"] as const) {
    for (const c of controls) {
      await t.step(`${field} with ${JSON.stringify(c)}`, async () => {
        const { app, sent } = setup();
        const value = field === "name" ? `a${c}` : `cliente@example.cl${c}`;
        const res = await app.request(post(JSON.stringify({ ...good, [field]: value })));
        assert.equal(res.status, 422);
        assert.equal(res.headers.get("content-type"), "application/problem+json");
        const body = await res.json();
        assert.deepEqual(body.errors, [{ field, message: "must not contain control characters" }]);
        assert.equal(
          body.detail,
          `Cannot accept order: ${field} must not contain control characters`,
        );
        assert.equal(sent.length, 0, "nothing may reach Kafka");
      });
    }
  }
});

Deno.test("POST /orders answers 202 with Location after publishing an OrderRequested keyed by id", async () => {
  const { app, sent } = setup();
  const res = await app.request(post(JSON.stringify(good)));
  assert.equal(res.status, 202);
  assert.equal(res.headers.get("location"), "/orders/order-1");
  const body = await res.json();
  assert.equal(body.id, "order-1");
  assert.equal(body.state, "recibido");
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.topic, "order_requests");
  assert.equal(sent[0]!.key, "order-1");
  const event = JSON.parse(sent[0]!.value);
  assert.deepEqual({ ...event, requestedAt: "-" }, {
    v: 1,
    type: "OrderRequested",
    id: "order-1",
    order: good,
    requestedAt: "-",
  });
});

Deno.test("GET /orders/{id} answers right after a 202, and 404 problem for an unknown id", async () => {
  const { app } = setup();
  await app.request(post(JSON.stringify(good)));
  const res = await app.request("/orders/order-1");
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual({ id: body.id, state: body.state, history: body.history }, {
    id: "order-1",
    state: "recibido",
    history: [],
  });
  const missing = await app.request("/orders/nope");
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get("content-type"), "application/problem+json");
  assert.equal((await missing.json()).detail, 'Cannot find order: no order has id "nope"');
});

Deno.test("POST /orders with an Idempotency-Key returns the same order once, and 422 for another body", async () => {
  const { app, sent } = setup();
  const headers = { "content-type": "application/json", "Idempotency-Key": "retry-123" };
  const [a, b] = await Promise.all([
    app.request(post(JSON.stringify(good), headers)),
    app.request(post(JSON.stringify(good), headers)),
  ]);
  const c = await app.request(post(JSON.stringify(good), headers));
  const ids = await Promise.all([a, b, c].map(async (r) => (await r.json()).id));
  assert.deepEqual([a.status, b.status, c.status], [202, 202, 202]);
  assert.equal(new Set(ids).size, 1);
  assert.equal(sent.length, 1, "one record in Kafka");
  const other = await app.request(post(JSON.stringify({ ...good, price: 1 }), headers));
  assert.equal(other.status, 422);
  assert.equal((await other.json()).title, "Idempotency-Key reused");
  assert.equal(sent.length, 1);
});

Deno.test("POST /orders honours an Idempotency-Key for ORDER_DEDUPE_WINDOW_MS, then takes it as new", async () => {
  const { publisher, sent } = recordingPublisher();
  const admission = new Admission(publisher, { maxPending: 100, ackTimeoutMs: 50 });
  let t = 0;
  const app = orderApp({
    config: { ...config, ORDER_DEDUPE_WINDOW_MS: 60_000 },
    admission,
    view: new OrderView(),
    log: quiet,
    now: () => t,
  });
  const headers = { "content-type": "application/json", "Idempotency-Key": "late-retry" };
  assert.equal((await app.request(post(JSON.stringify(good), headers))).status, 202);
  const other = JSON.stringify({ ...good, price: 1 });
  t = 59_999;
  assert.equal((await app.request(post(other, headers))).status, 422, "within the window");
  t = 60_000;
  assert.equal((await app.request(post(other, headers))).status, 202, "after the window");
  assert.equal(sent.length, 2);
});

Deno.test("POST /orders answers 503 with Retry-After when Kafka is down or slow, and /readyz says not ready only when down", async (t) => {
  for (const behaviour of ["down", "slow"] as const) {
    await t.step(behaviour, async () => {
      const { app, view } = setup(behaviour);
      const res = await app.request(post(JSON.stringify(good)));
      assert.equal(res.status, 503);
      assert.equal(res.headers.get("retry-after"), "2");
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      assert.equal(view.size, 0, "an unacknowledged order is not shown");
      const ready = await app.request("/readyz");
      assert.equal(ready.status, behaviour === "down" ? 503 : 200);
    });
  }
});

Deno.test("POST /orders answers 429 with Retry-After, before reading the body, while MAX_PENDING_PUBLISHES writes wait for Kafka", async () => {
  const { publisher, writes } = heldPublisher();
  const admission = new Admission(publisher, { maxPending: 2, ackTimeoutMs: 10_000 });
  const app = orderApp({ config, admission, view: new OrderView(), log: quiet });
  const waiting = [
    app.request(post(JSON.stringify(good))),
    app.request(post(JSON.stringify(good))),
  ];
  await until(() => writes.length === 2);
  let bodyRead = false;
  const body = new ReadableStream({
    pull(controller) {
      bodyRead = true;
      controller.enqueue(new TextEncoder().encode(JSON.stringify(good)));
      controller.close();
    },
  }, { highWaterMark: 0 });
  const refused = await app.request(
    new Request("http://gateway/orders", {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
    }),
  );
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get("retry-after"), "1");
  assert.equal(refused.headers.get("content-type"), "application/problem+json");
  assert.deepEqual(await refused.json(), {
    type: "https://despacho.local/problems/too-many-requests",
    title: "Too many requests",
    status: 429,
    detail: "Cannot admit 1 write: 2 are already waiting for Kafka and the limit is 2",
  });
  assert.equal(bodyRead, false, "refused before the body is read");
  assert.equal(writes.length, 2, "a refused order never reaches Kafka");
  for (const w of writes) w.ack();
  assert.deepEqual((await Promise.all(waiting)).map((r) => r.status), [202, 202]);
  const again = app.request(post(JSON.stringify(good)));
  await until(() => writes.length === 3);
  writes[2]!.ack();
  assert.equal((await again).status, 202);
});

Deno.test("a draining gateway finishes the requests in flight and answers new ones 503 with Retry-After and Connection: close", async () => {
  const { publisher, writes } = heldPublisher();
  const admission = new Admission(publisher, { maxPending: 10, ackTimeoutMs: 10_000 });
  const drain = new Drain();
  const app = orderApp({ config, admission, view: new OrderView(), log: quiet, drain });
  const inFlight = app.request(post(JSON.stringify(good)));
  await until(() => writes.length === 1);
  let stopped: boolean | undefined;
  const stopping = drain.drain(10_000, () => admission.idle()).then((done) => stopped = done);
  for (const request of [post(JSON.stringify(good)), new Request("http://gateway/readyz")]) {
    const refused = await app.request(request);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "2");
    assert.equal(refused.headers.get("connection"), "close");
    assert.equal(refused.headers.get("content-type"), "application/problem+json");
    assert.equal((await refused.json()).title, "Shutting down");
  }
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(stopped, undefined, "still waiting for the order in flight");
  writes[0]!.ack();
  const accepted = await inFlight;
  assert.equal(accepted.status, 202, "the order in flight is answered");
  await stopping;
  assert.equal(stopped, true);
  assert.equal(writes.length, 1, "the refused order never reached Kafka; the accepted one did");
});

Deno.test("Drain.drain() gives up after its timeout when a request does not finish", async () => {
  const { publisher } = heldPublisher();
  const admission = new Admission(publisher, { maxPending: 10, ackTimeoutMs: 10_000 });
  const drain = new Drain();
  const app = orderApp({ config, admission, view: new OrderView(), log: quiet, drain });
  const stuck = app.request(post(JSON.stringify(good)));
  await until(() => drain.inFlight === 1 && admission.pending === 1);
  assert.equal(await drain.drain(20, () => admission.idle()), false);
  assert.equal(drain.inFlight, 1);
  void stuck;
});

Deno.test("GET /orders/{id}/events sends reached states first, then live ones, and ends after finalizado", async () => {
  const { app, view } = setup();
  await app.request(post(JSON.stringify(good)));
  const transition = (state: OrderTransition["state"], seq: number): OrderTransition => ({
    v: 1,
    type: "OrderTransition",
    id: "order-1",
    order: good,
    state,
    seq,
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
    requestedAt: new Date(Date.UTC(2026, 0, 1)).toISOString(),
    next: null,
  });
  view.applyTransition(transition("recibido", 1));
  view.applyTransition(transition("preparando", 2));
  const res = await app.request("/orders/order-1/events");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
  // Read the reached states first; only then do live changes arrive (one of them twice, a redelivery).
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while ((text.match(/event: state/g) ?? []).length < 2) text += (await reader.read()).value ?? "";
  view.applyTransition(transition("entregando", 3));
  view.applyTransition(transition("entregando", 3));
  view.applyTransition(transition("finalizado", 4));
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    text += chunk.value;
  }
  const states = [...text.matchAll(/event: state\ndata: (.*)\n/g)].map((m) =>
    JSON.parse(m[1]!).state
  );
  assert.deepEqual(states, ["recibido", "preparando", "entregando", "finalizado"]);
  assert.match(text, /event: end\n/);
});

Deno.test("GET /orders/{id}/events is a 404 problem for an unknown order", async () => {
  const { app } = setup();
  const res = await app.request("/orders/nope/events");
  assert.equal(res.status, 404);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
});

Deno.test("unknown routes answer a 404 problem, never a 500", async () => {
  const { app } = setup();
  const res = await app.request("/nothing/here");
  assert.equal(res.status, 404);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
});

Deno.test("GET /readyz says 503 until the order store is caught up; the store answers the order routes", async () => {
  const { publisher } = recordingPublisher();
  const admission = new Admission(publisher, { maxPending: 100, ackTimeoutMs: 50 });
  const store = new OrderStore(":memory:", { topic: "order_status" });
  let caughtUp = false;
  const app = orderApp({ config, admission, view: store, log: quiet, viewReady: () => caughtUp });
  try {
    const before = await app.request("/readyz");
    assert.equal(before.status, 503);
    assert.match((await before.json()).detail, /order store not caught up/);
    caughtUp = true;
    assert.equal((await app.request("/readyz")).status, 200);
    const placed = await app.request(post(JSON.stringify(good)));
    assert.equal(placed.status, 202);
    const { id } = await placed.json();
    const got = await app.request(`/orders/${id}`);
    assert.equal(got.status, 200);
    assert.equal((await got.json()).state, "recibido");
    assert.equal(store.size, 1);
  } finally {
    store.close();
  }
});
