import assert from "node:assert/strict";
import { Hono } from "hono";
import type { OutRecord } from "../lib/kafka.ts";
import { createLogger } from "../lib/log.ts";
import { OrderView } from "../lib/order_view.ts";
import { emptyStats } from "../lib/windows.ts";
import { AnalyticsView, createAnalyticsRoutes } from "./analytics.ts";
import { createApp } from "./app.ts";
import { createPurchaseRoutes } from "./purchases.ts";

const event = (
  id: string,
  taps: number | null,
  folio: string | null = taps ? "ABC-1234" : null,
) => ({
  v: 1,
  type: "Purchase",
  id,
  nombre: "Luis",
  apellido: "Reed",
  edad: 66,
  email: "luis.reed@mail.com",
  telefono: "+89 954-043-1254",
  ubicacion: { direccion: "456 Calle Granada", ciudad: "Northville", pais: "Hartford" },
  productovisto: "Barra de sonido para TV",
  taps,
  folio,
  ts: "2026-11-24T12:00:00.000Z",
});

function setup() {
  const sent: OutRecord[] = [];
  const publisher = {
    ready: () => true,
    publish: (r: OutRecord) => {
      sent.push(r);
      return Promise.resolve();
    },
  };
  const analytics = new AnalyticsView();
  const app = createApp({
    config: { TOPIC_ORDER_REQUESTS: "order_requests", MAX_BODY_BYTES: 4096 },
    publisher,
    view: new OrderView(),
    log: createLogger("test", "error", () => {}),
    mount: [
      [
        "/purchases",
        createPurchaseRoutes({ publisher, topic: "purchase_events", maxBodyBytes: 4096 }),
      ],
      ["/analytics", createAnalyticsRoutes(analytics)] as [string, Hono],
    ],
  });
  return { app, sent, analytics };
}

const post = (body: string, type: string) =>
  new Request("http://gateway/purchases", {
    method: "POST",
    body,
    headers: { "content-type": type },
  });

Deno.test("POST /purchases publishes one valid event keyed by person id", async () => {
  const { app, sent } = setup();
  const res = await app.request(post(JSON.stringify(event("a1", 17.8)), "application/json"));
  assert.equal(res.status, 202);
  assert.deepEqual(await res.json(), { accepted: 1, rejected: 0, errors: [] });
  assert.deepEqual(sent.map((r) => [r.topic, r.key]), [["purchase_events", "a1"]]);
});

Deno.test("POST /purchases with NDJSON publishes the valid lines and reports the others by line", async () => {
  const { app, sent } = setup();
  const body = [
    JSON.stringify(event("a1", 17.8)),
    "",
    JSON.stringify(event("a2", null)),
    "{oops",
    JSON.stringify(event("a3", 12, null)),
    JSON.stringify(event("a4", -1)),
  ].join("\n");
  const res = await app.request(post(body, "application/x-ndjson"));
  assert.equal(res.status, 207);
  const json = await res.json();
  assert.equal(json.accepted, 2);
  assert.deepEqual(
    json.errors.map((
      e: { line: number; errors: { field: string }[] },
    ) => [e.line, e.errors[0]!.field]),
    [
      [4, "(body)"],
      [5, "folio"],
      [6, "taps"],
    ],
  );
  assert.deepEqual(sent.map((r) => r.key), ["a1", "a2"]);
});

Deno.test("POST /purchases refuses a body with nothing valid, or the wrong type, publishing nothing", async (t) => {
  const cases: [string, Request, number][] = [
    ["nothing valid", post("{}\n[]", "application/x-ndjson"), 422],
    ["plain text", post(JSON.stringify(event("a1", 1)), "text/plain"), 415],
    ["too large", post("x".repeat(5000), "application/x-ndjson"), 413],
  ];
  for (const [name, request, status] of cases) {
    await t.step(name, async () => {
      const { app, sent } = setup();
      const res = await app.request(request);
      assert.equal(res.status, status);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      assert.equal(sent.length, 0);
    });
  }
});

Deno.test("POST /purchases refuses a control character in any text field with a 422 naming the field", async (t) => {
  const fields = [
    "id",
    "nombre",
    "apellido",
    "email",
    "telefono",
    "ubicacion.direccion",
    "ubicacion.ciudad",
    "ubicacion.pais",
    "productovisto",
    "folio",
  ];
  for (const field of fields) {
    for (const c of ["\r\n", "\u0000", "\u007f"]) {
      await t.step(`${field} with ${JSON.stringify(c)}`, async () => {
        const { app, sent } = setup();
        const item: Record<string, unknown> = event("a1", 17.8);
        const [outer, inner] = field.split(".");
        const owner = (inner === undefined ? item : item[outer!]) as Record<string, string>;
        owner[inner ?? outer!] += c;
        const res = await app.request(post(JSON.stringify(item), "application/x-ndjson"));
        assert.equal(res.status, 422);
        assert.equal(res.headers.get("content-type"), "application/problem+json");
        assert.deepEqual((await res.json()).errors, [
          { field: `line 1: ${field}`, message: "must not contain control characters" },
        ]);
        assert.equal(sent.length, 0);
      });
    }
  }
});

Deno.test("GET /analytics/purchases merges a window's partitions and sums the totals", async () => {
  const { app, analytics } = setup();
  const stats = (events: number, purchases: number) => ({
    ...emptyStats(),
    events,
    purchases,
    visits: events - purchases,
    short: purchases,
  });
  const w = {
    v: 1 as const,
    type: "PurchaseWindow" as const,
    start: "2026-11-24T12:00:00.000Z",
    end: "2026-11-24T12:00:10.000Z",
  };
  analytics.apply({ ...w, partition: 0, stats: stats(4, 2) });
  analytics.apply({ ...w, partition: 1, stats: stats(6, 3) });
  analytics.apply({ ...w, partition: 1, stats: stats(6, 3) });
  const t = { v: 1 as const, type: "PurchaseTotals" as const, watermark: null };
  analytics.apply({ ...t, partition: 0, stats: stats(4, 2), late: 1, invalid: 0 });
  analytics.apply({ ...t, partition: 1, stats: stats(6, 3), late: 0, invalid: 2 });
  const res = await app.request("/analytics/purchases");
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual(
    body.windows.map((
      x: { events: number; purchases: number; partitions: number; conversionRate: number },
    ) => [x.events, x.purchases, x.partitions, x.conversionRate]),
    [[10, 5, 2, 0.5]],
  );
  assert.deepEqual([
    body.totals.events,
    body.totals.purchases,
    body.totals.late,
    body.totals.invalid,
  ], [10, 5, 1, 2]);
});

Deno.test("GET /analytics/purchases/events streams each window as it is applied", async () => {
  const { app, analytics } = setup();
  const res = await app.request("/analytics/purchases/events");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const w = { v: 1 as const, type: "PurchaseWindow" as const, end: "2026-11-24T12:00:10.000Z" };
  const stats = { ...emptyStats(), events: 3, purchases: 2, visits: 1, short: 2 };
  queueMicrotask(() => {
    analytics.apply({ ...w, start: "2026-11-24T12:00:00.000Z", partition: 0, stats });
    analytics.apply({ ...w, start: "2026-11-24T12:00:00.000Z", partition: 1, stats });
  });
  let text = "";
  while ((text.match(/event: window/g) ?? []).length < 2) text += (await reader.read()).value ?? "";
  await reader.cancel();
  const windows = [...text.matchAll(/event: window\ndata: (.*)\n/g)].map((m) => JSON.parse(m[1]!));
  assert.deepEqual(windows.map((x) => [x.start, x.events, x.partitions]), [
    ["2026-11-24T12:00:00.000Z", 3, 1],
    ["2026-11-24T12:00:00.000Z", 6, 2],
  ]);
});
