import { loadConfig } from "../lib/config.ts";
import { STAFF_HEADERS, testAccess } from "../infra/test_access.ts";
import assert from "node:assert/strict";
import { DespachoError } from "../lib/errors.ts";
import type { OutRecord } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import { registry } from "../lib/metrics.ts";
import { OrderView } from "./order_view.ts";
import { parseTraceparent, traceIdOf } from "../lib/tracing.ts";
import { Admission } from "./admission.ts";
import { PurchaseAnalyticsView } from "./purchase_analytics.ts";
import { createGatewayApp } from "./routes.ts";

const TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const ORDER = { name: "Pizza", price: 12990, email: "a@b.cl" };

function setup(publish: (r: OutRecord) => Promise<void> = () => Promise.resolve()) {
  const sent: OutRecord[] = [];
  const view = new OrderView();
  const app = createGatewayApp({
    access: testAccess(),
    config: loadConfig({
      TOPIC_ORDER_REQUESTS: "r",
      TOPIC_PURCHASES: "p",
      MAX_BODY_BYTES: String(4096),
      MAX_BATCH_LINES: String(100),
    }),
    admission: new Admission({
      ready: () => true,
      publish: (r) => {
        sent.push(r);
        return publish(r);
      },
    }, { maxPending: 100, ackTimeoutMs: 5_000 }),
    view,
    analytics: new PurchaseAnalyticsView(),
    log: createLogger("test", "error", () => {}),
  });
  return { app, view, sent };
}

/** A sample's value in the registry now (0 when the series does not exist yet). */
async function sample(name: string, labels: Record<string, string>): Promise<number> {
  const family = name.replace(/_count$/, "");
  const metric = await registry.getSingleMetric(family)?.get();
  return metric?.values.find((v) =>
    ((v as { metricName?: string }).metricName ?? family) === name &&
    Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x)
  )?.value ?? 0;
}

const post = (body: string, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body,
});

Deno.test("POST /orders: the request's trace is on the record, in traceresponse and in GET /orders/{id}", async () => {
  const { app, sent } = setup();
  const res = await app.request(
    "/orders",
    post(JSON.stringify(ORDER), { traceparent: TRACEPARENT }),
  );
  assert.equal(res.status, 202);
  const { id } = await res.json();
  const traceId = traceIdOf(TRACEPARENT);
  assert.equal(traceIdOf(res.headers.get("traceresponse")), traceId);
  assert.equal(sent.length, 1);
  assert.equal(traceIdOf(sent[0]!.headers?.traceparent), traceId);
  const order = await (await app.request(`/orders/${id}`)).json();
  assert.equal(order.traceId, traceId);
});

Deno.test("POST /orders without a traceparent starts a trace of its own", async () => {
  const { app, sent } = setup();
  const res = await app.request("/orders", post(JSON.stringify(ORDER)));
  assert.equal(res.status, 202);
  const started = parseTraceparent(res.headers.get("traceresponse"));
  assert.ok(started !== null);
  assert.equal(traceIdOf(sent[0]!.headers?.traceparent), started.traceId);
  await res.body?.cancel();
});

Deno.test("POST /purchases: every event of a batch carries the request's traceparent", async () => {
  const { app, sent } = setup();
  const purchase = {
    v: 1,
    type: "Purchase",
    id: "p-1",
    nombre: "Ana",
    apellido: "Soto",
    edad: 30,
    email: "ana@example.cl",
    telefono: "+56 9 1234 5678",
    ubicacion: { direccion: "Av. 1", ciudad: "Santiago", pais: "Chile" },
    productovisto: "Lámpara",
    taps: 12.5,
    folio: "ABC-1",
    ts: "2026-11-24T12:00:00.000Z",
  };
  const body = [purchase, { ...purchase, id: "p-2" }].map((p) => JSON.stringify(p)).join("\n");
  const res = await app.request(
    "/purchases",
    post(body, {
      "content-type": "application/x-ndjson",
      traceparent: TRACEPARENT,
      ...STAFF_HEADERS,
    }),
  );
  assert.equal(res.status, 202, await res.clone().text());
  assert.equal(sent.length, 2);
  for (const r of sent) assert.equal(traceIdOf(r.headers?.traceparent), traceIdOf(TRACEPARENT));
  await res.body?.cancel();
});

Deno.test("telemetry() counts and times requests by route pattern and status, never by raw path", async () => {
  const { app } = setup();
  const id = `o-${crypto.randomUUID()}`;
  const labels = { method: "GET", route: "/orders/:id", status: "404" };
  const before = await sample("despacho_http_requests_total", labels);
  const timedBefore = await sample("despacho_http_request_duration_seconds_count", labels);
  await (await app.request(`/orders/${id}`)).body?.cancel();
  await (await app.request(`/no/such/${id}`)).body?.cancel();
  assert.equal(await sample("despacho_http_requests_total", labels), before + 1);
  assert.equal(
    await sample("despacho_http_request_duration_seconds_count", labels),
    timedBefore + 1,
  );
  const text = await registry.metrics();
  assert.ok(!text.includes(id), "no label holds a raw path");
  assert.match(text, /despacho_http_requests_total\{method="GET",route="unmatched",status="404"\}/);
});

Deno.test("telemetry() counts orders accepted, and refused by the problem's title and status", async (t) => {
  let down = false;
  const { app } = setup(() =>
    down
      ? Promise.reject(new DespachoError("KAFKA_UNAVAILABLE", "Cannot publish: down"))
      : Promise.resolve()
  );
  const cases: { name: string; init: RequestInit; reason?: string; status: number }[] = [
    { name: "accepted", init: post(JSON.stringify(ORDER)), status: 202 },
    { name: "not JSON", init: post("{nope"), reason: "malformed_json", status: 400 },
    {
      name: "invalid field",
      init: post(JSON.stringify({ ...ORDER, price: 0 })),
      reason: "invalid_order",
      status: 422,
    },
    {
      name: "content type",
      init: post("{}", { "content-type": "text/plain" }),
      reason: "unsupported_media_type",
      status: 415,
    },
    {
      name: "body too large",
      init: post("x".repeat(5000)),
      reason: "body_too_large",
      status: 413,
    },
    {
      name: "Kafka down",
      init: post(JSON.stringify(ORDER)),
      reason: "kafka_unavailable",
      status: 503,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      down = c.status === 503;
      const [name, labels]: [string, Record<string, string>] = c.reason === undefined
        ? ["despacho_orders_accepted_total", {}]
        : ["despacho_orders_refused_total", { reason: c.reason, status: String(c.status) }];
      const before = await sample(name, labels);
      const res = await app.request("/orders", c.init);
      assert.equal(res.status, c.status);
      await res.body?.cancel();
      assert.equal(await sample(name, labels), before + 1);
    });
  }
});

Deno.test("GET /metrics answers the registry in Prometheus text format", async () => {
  const { app } = setup();
  await (await app.request("/healthz")).body?.cancel();
  const anonymous = await app.request("/metrics");
  assert.equal(anonymous.status, 401, "staff only: metrics name routes and counts");
  await anonymous.body?.cancel();
  const res = await app.request("/metrics", { headers: STAFF_HEADERS });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  assert.equal(res.headers.get("traceresponse"), null, "scrapes are not traced");
  const text = await res.text();
  assert.match(text, /^# TYPE despacho_http_requests_total counter$/m);
  assert.match(
    text,
    /^despacho_http_requests_total\{method="GET",route="\/healthz",status="200"\}/m,
  );
  assert.match(text, /^process_resident_memory_bytes \d+/m);
});
