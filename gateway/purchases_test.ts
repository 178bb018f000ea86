import assert from "node:assert/strict";
import { OPEN_GUARDS } from "../infra/test_access.ts";
import { Hono } from "hono";
import type { OutRecord } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import { OrderView } from "./order_view.ts";
import { emptyStats } from "../lib/windows.ts";
import { Admission } from "./admission.ts";
import { createPurchaseAnalyticsRoutes, PurchaseAnalyticsView } from "./purchase_analytics.ts";
import { orderApp } from "../infra/test_gateway.ts";
import type { Publisher } from "./publisher.ts";
import {
  createPurchaseRoutes,
  MAX_LINE_ERRORS,
  PUBLISH_GROUP,
  validatePurchases,
  VALIDATION_SLICE_MS,
} from "./purchases.ts";

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
  const analytics = new PurchaseAnalyticsView();
  const admission = new Admission(publisher, { maxPending: 100, ackTimeoutMs: 1000 });
  const app = orderApp({
    config: { TOPIC_ORDER_REQUESTS: "order_requests", MAX_BODY_BYTES: 4096 },
    admission,
    view: new OrderView(),
    log: createLogger("test", "error", () => {}),
    mount: [
      [
        "/purchases",
        createPurchaseRoutes({
          admission,
          topic: "purchase_events",
          maxBodyBytes: 4096,
          maxBatchLines: 100,
          service: OPEN_GUARDS.service,
        }),
      ],
      ["/analytics", createPurchaseAnalyticsRoutes(analytics, OPEN_GUARDS.staff)] as [string, Hono],
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
  assert.deepEqual(await res.json(), { accepted: 1, rejected: 0, errors: [], errorsOmitted: 0 });
  assert.deepEqual(sent.map((r) => [r.topic, r.key]), [["purchase_events", "a1"]]);
});

Deno.test("POST /purchases accepts the report's own event as it is, and publishes it with Despacho's envelope and no event time", async () => {
  const { app, sent } = setup();
  // The second report's Figure 7, byte for byte: no v, no type, no ts.
  const report =
    '{"id": "6b28427ff85faa10eb5321dc", "nombre": "John", "apellido": "Harrison", "edad": 63, "email": "John.Harrison@mail.com", "telefono": "+94 585-941-9707", "ubicacion": {"direccion": "789 Via Milano", "ciudad": "Rosewood", "pais": "Queenshire"}, "productovisto": "Kit de maquillaje profesional", "taps": 0, "folio": null}';
  const res = await app.request(post(report, "application/json"));
  assert.equal(res.status, 202);
  const [record] = sent;
  assert.equal(record?.key, "6b28427ff85faa10eb5321dc");
  const value = JSON.parse(record!.value);
  assert.deepEqual([value.v, value.type, "ts" in value], [1, "Purchase", false]);
  assert.deepEqual({ ...value, v: undefined, type: undefined }, {
    ...JSON.parse(report),
    v: undefined,
    type: undefined,
  });
});

Deno.test("POST /purchases takes empty taps as a visit and an address with accents, and refuses a space in an address saying why", async () => {
  const { app, sent } = setup();
  const { v: _v, type: _t, ts: _ts, ...bare } = event("b1", 12.5);
  const lines = [
    { ...bare, id: "v1", taps: "", folio: "" },
    { ...bare, id: "u1", nombre: "José", apellido: "Núñez", email: "José.Núñez@mail.com" },
    { ...bare, id: "s1", email: "María José.Pérez@mail.com" },
  ].map((l) => JSON.stringify(l)).join("\n");
  const res = await app.request(post(lines, "application/x-ndjson"));
  assert.equal(res.status, 207);
  const json = await res.json();
  assert.deepEqual(sent.map((r) => r.key), ["v1", "u1"]);
  assert.equal(json.errors.length, 1);
  assert.equal(json.errors[0].line, 3);
  assert.match(JSON.stringify(json.errors[0].errors), /email.*must be an email address/);
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

/** The gateway with batch limits of the test's choosing. */
function batchApp(options: {
  maxBodyBytes?: number;
  maxBatchLines?: number;
  maxPending?: number;
  publisher?: Publisher;
}) {
  const sent: OutRecord[] = [];
  const publisher = options.publisher ?? {
    ready: () => true,
    publish: (r: OutRecord) => {
      sent.push(r);
      return Promise.resolve();
    },
  };
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const admission = new Admission(publisher, {
    maxPending: options.maxPending ?? 1_000_000,
    ackTimeoutMs: 10_000,
  });
  const app = orderApp({
    config: { TOPIC_ORDER_REQUESTS: "order_requests", MAX_BODY_BYTES: maxBodyBytes },
    admission,
    view: new OrderView(),
    log: createLogger("test", "error", () => {}),
    mount: [[
      "/purchases",
      createPurchaseRoutes({
        admission,
        topic: "purchase_events",
        maxBodyBytes,
        maxBatchLines: options.maxBatchLines ?? 10_000,
        service: OPEN_GUARDS.service,
      }),
    ]],
  });
  return { app, sent, admission };
}
const lines = (n: number, make: (i: number) => string) =>
  Array.from({ length: n }, (_, i) => make(i)).join("\n");

Deno.test("POST /purchases refuses a batch of more than MAX_BATCH_LINES items with a 413 problem, publishing nothing", async (t) => {
  const valid = (i: number) => JSON.stringify(event(`a${i}`, 12));
  const cases: [string, string, number][] = [
    ["3 items", lines(3, valid), 202],
    ["3 items and blank lines", `\n${lines(3, valid)}\n\n  \n`, 202],
    ["4 items", lines(4, valid), 413],
    ["4 invalid items", lines(4, () => "x"), 413],
  ];
  for (const [name, body, status] of cases) {
    await t.step(name, async () => {
      const { app, sent } = batchApp({ maxBatchLines: 3 });
      const res = await app.request(post(body, "application/x-ndjson"));
      assert.equal(res.status, status);
      if (status === 413) {
        assert.equal(res.headers.get("content-type"), "application/problem+json");
        const problem = await res.json();
        assert.equal(problem.title, "Batch too large");
        assert.equal(
          problem.detail,
          "Cannot accept purchases: batch has more than 3 items (non-blank lines)",
        );
        assert.equal(sent.length, 0);
      } else {
        assert.equal(sent.length, 3);
      }
    });
  }
});

Deno.test("POST /purchases lists the errors of the first 100 refused lines and counts the rest", async (t) => {
  for (const withValid of [true, false]) {
    await t.step(withValid ? "some valid: 207" : "none valid: 422 problem", async () => {
      const { app, sent } = batchApp({});
      const body = lines(250, (i) => `{"bad":${i}}`) +
        (withValid ? `\n${JSON.stringify(event("ok", 3))}` : "");
      const res = await app.request(post(body, "application/x-ndjson"));
      const json = await res.json();
      if (withValid) {
        assert.equal(res.status, 207);
        assert.equal(json.accepted, 1);
        assert.equal(json.rejected, 250);
        assert.equal(json.errors.length, MAX_LINE_ERRORS);
        assert.equal(json.errors.at(-1).line, MAX_LINE_ERRORS);
        assert.equal(json.errorsOmitted, 150);
        assert.equal(sent.length, 1);
      } else {
        assert.equal(res.status, 422);
        assert.equal(
          json.detail,
          "Cannot accept purchases: none of 250 items is valid; the errors of the first 100 are listed",
        );
        const listed = new Set(json.errors.map((e: { field: string }) => e.field.split(":")[0]));
        assert.equal(listed.size, MAX_LINE_ERRORS);
        assert.equal(json.errorsOmitted, 150);
        assert.equal(sent.length, 0);
      }
    });
  }
});

Deno.test("POST /purchases answers a body at the body limit of tiny invalid lines, counting every line", async (t) => {
  const maxBodyBytes = 1024 * 1024;
  await t.step("over the line limit: 413 before any line is looked at", async () => {
    const { app, sent } = batchApp({ maxBodyBytes, maxBatchLines: 10_000 });
    const res = await app.request(post("{}\n".repeat(maxBodyBytes / 3), "application/x-ndjson"));
    assert.equal(res.status, 413);
    await res.body?.cancel();
    assert.equal(sent.length, 0);
  });
  // Not JSON objects (refused before parsing), empty objects, and the smallest line the schema
  // has to look at in full. How long this takes, and how /healthz answers meanwhile, is a figure
  // (DESPACHO_TEST_FIGURES=1), not an assertion: the slicing itself is pinned below with a clock.
  for (const item of ["x", "{}", '{"id":"x","productovisto":"y"}']) {
    await t.step(`every line validated: ${item}`, async () => {
      const count = Math.floor(maxBodyBytes / (item.length + 1));
      const { app, sent } = batchApp({ maxBodyBytes, maxBatchLines: 1_000_000 });
      const started = performance.now();
      let done = false;
      const batch = Promise.resolve(
        app.request(post(`${item}\n`.repeat(count), "application/x-ndjson")),
      ).finally(() => done = true);
      const healthLatencies: number[] = [];
      while (!done) {
        const asked = performance.now();
        const health = await app.request("/healthz");
        assert.equal(health.status, 200);
        await health.body?.cancel();
        healthLatencies.push(performance.now() - asked);
        await new Promise((r) => setTimeout(r, 5));
      }
      const res = await batch;
      assert.equal(res.status, 422);
      const problem = await res.json();
      assert.equal(problem.errorsOmitted, count - MAX_LINE_ERRORS);
      assert.equal(sent.length, 0);
      if (Deno.env.get("DESPACHO_TEST_FIGURES")) {
        console.log(
          `${count} lines of ${JSON.stringify(item)}: ${
            (performance.now() - started).toFixed(0)
          } ms, ` +
            `/healthz ${healthLatencies.length}x, slowest ${
              Math.max(...healthLatencies).toFixed(1)
            } ms`,
        );
      }
    });
  }
});

Deno.test("validatePurchases gives the event loop a turn once a slice has run longer than VALIDATION_SLICE_MS, and only then", async (t) => {
  const lines = 64 * 200;
  const body = "x\n".repeat(lines);
  // The clock is read every 64 items (and once after each pause): a clock that moves `step` per
  // read says how long each run of 64 items took.
  const pausesWith = async (step: number) => {
    let clock = 0;
    let pauses = 0;
    const { rejected } = await validatePurchases(body, true, {
      now: () => clock += step,
      pause: () => {
        pauses++;
        return Promise.resolve();
      },
    });
    assert.equal(rejected, lines);
    return pauses;
  };
  await t.step("a frozen clock: never", async () => assert.equal(await pausesWith(0), 0));
  await t.step("exactly the slice per 64 items: every second run", async () => {
    assert.equal(await pausesWith(VALIDATION_SLICE_MS), lines / 64 / 2);
  });
  await t.step("over the slice per 64 items: after every run", async () => {
    assert.equal(await pausesWith(VALIDATION_SLICE_MS + 1), lines / 64);
  });
  await t.step("the default pause lets a waiting timer run", async () => {
    let clock = 0;
    let ticks = 0;
    let ticking = true;
    const tick = () => {
      if (!ticking) return;
      ticks++;
      setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
    await validatePurchases(body, true, { now: () => clock += VALIDATION_SLICE_MS + 1 });
    ticking = false;
    assert.ok(ticks >= lines / 64 - 1, `a timer ran ${ticks} times during ${lines / 64} pauses`);
  });
});

Deno.test("POST /purchases publishes a large batch with at most PUBLISH_GROUP writes in flight", async () => {
  let inFlight = 0;
  let most = 0;
  const keys: string[] = [];
  const publisher: Publisher = {
    ready: () => true,
    publish: async (r) => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      keys.push(r.key);
      inFlight--;
    },
  };
  const { app } = batchApp({ publisher });
  const body = lines(2_000, (i) => JSON.stringify(event(`p${i}`, 5)));
  const res = await app.request(post(body, "application/x-ndjson"));
  assert.equal(res.status, 202);
  assert.equal((await res.json()).accepted, 2_000);
  assert.equal(keys.length, 2_000);
  assert.equal(most, PUBLISH_GROUP);
});

Deno.test("POST /purchases answers 429 when the batch needs more admission slots than are free", async () => {
  const { app, sent, admission } = batchApp({ maxPending: 5 });
  const body = lines(6, (i) => JSON.stringify(event(`p${i}`, 5)));
  const res = await app.request(post(body, "application/x-ndjson"));
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("retry-after"), "1");
  assert.equal(
    (await res.json()).detail,
    "Cannot admit 6 writes: 0 are already waiting for Kafka and the limit is 5",
  );
  assert.equal(sent.length, 0);
  assert.equal(admission.pending, 0);
  const fits = await app.request(
    post(lines(5, (i) => JSON.stringify(event(`q${i}`, 5))), "application/x-ndjson"),
  );
  assert.equal(fits.status, 202);
  assert.equal(sent.length, 5);
  assert.equal(admission.pending, 0);
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
