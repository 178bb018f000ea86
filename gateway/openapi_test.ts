import { loadConfig } from "../lib/config.ts";
import { STAFF_HEADERS, testAccess } from "../infra/test_access.ts";
import assert from "node:assert/strict";
import { Admission } from "./admission.ts";
import { Validator } from "@seriousme/openapi-schema-validator";
import type { z } from "zod";
import type { OutRecord } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import { OrderView } from "./order_view.ts";
import { emptyStats } from "../lib/windows.ts";
import { PurchaseAnalyticsView } from "./purchase_analytics.ts";
import { IdempotencyKeySchema } from "./api_schemas.ts";
import * as ex from "./openapi_examples.ts";
import { COMPONENT_SCHEMAS, openApiDocument, type SchemaName } from "./openapi.ts";
import { createGatewayApp } from "./routes.ts";

type Json = Record<string, unknown>;
type Operation = {
  parameters?: Json[];
  requestBody?: { content: Record<string, Json> };
  responses: Record<string, Json>;
};

const doc = openApiDocument() as {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Json>; responses: Record<string, Json> };
};

function setup(maxBodyBytes = 4096) {
  const sent: OutRecord[] = [];
  const view = new OrderView();
  const analytics = new PurchaseAnalyticsView();
  const app = createGatewayApp({
    access: testAccess(),
    config: loadConfig({
      TOPIC_ORDER_REQUESTS: "r",
      TOPIC_PURCHASES: "p",
      MAX_BODY_BYTES: String(maxBodyBytes),
      MAX_BATCH_LINES: String(10_000),
    }),
    admission: new Admission({
      ready: () => true,
      publish: (r) => {
        sent.push(r);
        return Promise.resolve();
      },
    }, { maxPending: 100_000, ackTimeoutMs: 5_000 }),
    view,
    analytics,
    log: createLogger("test", "error", () => {}),
  });
  return { app, view, analytics, sent };
}

/** `#/components/x/Name` → the object it names. */
function resolve(value: Json): Json {
  const target = value.$ref;
  if (typeof target !== "string") return value;
  const found = target.slice(2).split("/").reduce<unknown>(
    (node, key) => (node as Record<string, unknown> | undefined)?.[key],
    doc,
  );
  assert.ok(found !== undefined, `${target} resolves`);
  return found as Json;
}

function schemaOf(media: Json | undefined, where: string): z.ZodType {
  const target = (media?.schema as Json | undefined)?.$ref;
  assert.equal(typeof target, "string", `${where} names a component schema`);
  const name = String(target).replace("#/components/schemas/", "") as SchemaName;
  assert.ok(name in COMPONENT_SCHEMAS, `${where}: ${name} is a component`);
  return COMPONENT_SCHEMAS[name];
}

function parseSse(text: string): [string, unknown][] {
  return text.split("\n\n").filter((block) => block.trim() !== "").map((block) => {
    const event = /^event: (.*)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    assert.ok(event !== undefined && data !== undefined, `SSE block has event and data: ${block}`);
    return [event, JSON.parse(data)];
  });
}

/** Every media type object of the document, with where it is. */
function mediaTypes(): { where: string; type: string; media: Json; status?: string }[] {
  const out: { where: string; type: string; media: Json; status?: string }[] = [];
  const add = (where: string, content: unknown, status?: string) => {
    for (const [type, media] of Object.entries((content ?? {}) as Record<string, Json>)) {
      out.push({ where: `${where} ${type}`, type, media, ...(status ? { status } : {}) });
    }
  };
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      add(`${method.toUpperCase()} ${path} request`, op.requestBody?.content);
      for (const [status, response] of Object.entries(op.responses)) {
        add(`${method.toUpperCase()} ${path} ${status}`, resolve(response).content, status);
      }
    }
  }
  return out;
}

Deno.test("openApiDocument() describes every route the app serves, and nothing else", () => {
  const { app } = setup();
  const served = new Set(
    app.routes.filter((r) => r.method !== "ALL").map((r) =>
      `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`
    ),
  );
  const documented = new Set(
    Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`)
    ),
  );
  assert.deepEqual([...served].filter((r) => !documented.has(r)), [], "served, not documented");
  assert.deepEqual([...documented].filter((r) => !served.has(r)), [], "documented, not served");
  assert.ok(served.size >= 14, `the app serves ${served.size} routes`);
});

Deno.test("openApiDocument() is valid OpenAPI 3.1, every $ref resolves, and its schemas are generated", async () => {
  const validator = new Validator();
  const result = await validator.validate(structuredClone(doc));
  assert.deepEqual(result, { valid: true });
  assert.equal(validator.version, "3.1");
  const refs: string[] = [];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === "object") {
      for (const [key, value] of Object.entries(node)) {
        if (key === "$ref" && typeof value === "string") refs.push(value);
        else walk(value);
      }
    }
  };
  walk(doc);
  assert.ok(refs.length > 30);
  for (const target of new Set(refs)) resolve({ $ref: target });
  assert.deepEqual(Object.keys(doc.components.schemas), Object.keys(COMPONENT_SCHEMAS));
  // The request schema is the validator's own: its limits appear as zod states them.
  assert.deepEqual(doc.components.schemas.OrderInput, {
    type: "object",
    description: "The body of `POST /orders`: the seed's dataset fields, nothing else.",
    properties: {
      name: { type: "string", minLength: 1, maxLength: 100 },
      price: { type: "number", minimum: 1, maximum: 1_000_000 },
      email: (doc.components.schemas.OrderInput!.properties as Json).email,
    },
    required: ["name", "price", "email"],
    additionalProperties: false,
  });
});

Deno.test("openApiDocument() examples pass the schemas they illustrate", async (t) => {
  const media = mediaTypes().filter((m) => m.media.examples !== undefined);
  assert.ok(media.length >= 20, `${media.length} media types with examples`);
  for (const { where, type, media: m, status } of media) {
    await t.step(where, () => {
      for (const [name, example] of Object.entries(m.examples as Record<string, Json>)) {
        const value = example.value;
        const check = (schema: z.ZodType, item: unknown, what: string) => {
          const parsed = schema.safeParse(item);
          assert.ok(parsed.success, `${where} example ${name} ${what}: ${parsed.error?.message}`);
        };
        if (type === "text/event-stream") {
          const events = m["x-sse-events"] as Record<string, Json>;
          for (const [event, data] of parseSse(String(value))) {
            assert.ok(event in events, `${where} example ${name}: event ${event} is documented`);
            check(schemaOf({ schema: events[event] }, where), data, `event ${event}`);
          }
        } else if (type === "application/x-ndjson") {
          const lines = String(value).split("\n").filter((l) => l !== "");
          assert.ok(lines.length > 0);
          for (const [i, line] of lines.entries()) {
            check(
              schemaOf({ schema: m["x-ndjson-item"] }, where),
              JSON.parse(line),
              `line ${i + 1}`,
            );
          }
        } else {
          check(schemaOf(m, where), value, "");
          if (type === "application/problem+json") {
            assert.equal((value as Json).status, Number(status), `${where} example ${name}`);
          }
        }
      }
    });
  }
});

Deno.test("the real app's answers have the status and schema the document gives them", async (t) => {
  const { app, view, analytics } = setup(2048);
  const id = "o-1";
  view.accept(id, ex.orderInput);
  analytics.apply({
    v: 1,
    type: "PurchaseWindow",
    partition: 0,
    start: "2026-11-24T12:00:00.000Z",
    end: "2026-11-24T12:00:10.000Z",
    stats: { ...emptyStats(), events: 1, visits: 1 },
  });
  const json = (body: unknown, type = "application/json") => ({
    method: "POST",
    headers: { "content-type": type },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const ndjson = [ex.purchase, { ...ex.visit, folio: "X-1" }].map((p) => JSON.stringify(p))
    .join("\n");
  /** Every case is asked as staff, but for those marked `anonymous`. */
  const cases: {
    path: string;
    route: string;
    init?: RequestInit;
    status: number;
    anonymous?: boolean;
  }[] = [
    { path: "/healthz", route: "/healthz", status: 200 },
    { path: "/readyz", route: "/readyz", status: 200 },
    { path: "/orders", route: "/orders", init: json(ex.orderInput), status: 202 },
    { path: "/orders", route: "/orders", init: json("{nope"), status: 400 },
    { path: "/orders", route: "/orders", init: json("x".repeat(4096)), status: 413 },
    { path: "/orders", route: "/orders", init: json("{}", "text/plain"), status: 415 },
    { path: "/orders", route: "/orders", init: json({ ...ex.orderInput, price: 0 }), status: 422 },
    { path: "/orders", route: "/orders", status: 200 },
    { path: "/orders?limit=0", route: "/orders", status: 422 },
    { path: `/orders/${id}`, route: "/orders/{id}", status: 200 },
    { path: "/orders/nope", route: "/orders/{id}", status: 404 },
    { path: "/orders/nope/events", route: "/orders/{id}/events", status: 404 },
    { path: "/purchases", route: "/purchases", init: json(ex.purchase), status: 202 },
    {
      path: "/purchases",
      route: "/purchases",
      init: json(ndjson, "application/x-ndjson"),
      status: 207,
    },
    { path: "/purchases", route: "/purchases", init: json({ v: 2 }), status: 422 },
    { path: "/purchases", route: "/purchases", init: json("{}", "text/csv"), status: 415 },
    { path: "/analytics/purchases", route: "/analytics/purchases", status: 200 },
    { path: "/assets/nope.js", route: "/assets/{name}", status: 404 },
    { path: "/docs/assets/nope.js", route: "/docs/assets/{name}", status: 404 },
    { path: "/orders", route: "/orders", status: 401, anonymous: true },
    {
      path: "/purchases",
      route: "/purchases",
      init: json(ex.purchase),
      status: 401,
      anonymous: true,
    },
    { path: "/analytics/purchases", route: "/analytics/purchases", status: 401, anonymous: true },
    {
      path: "/sign-in",
      route: "/sign-in",
      init: {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "sec-fetch-site": "same-origin",
        },
        body: "token=not-the-token",
      },
      status: 401,
      anonymous: true,
    },
  ];
  for (const c of cases) {
    const method = (c.init?.method ?? "GET").toLowerCase();
    await t.step(`${method.toUpperCase()} ${c.path} → ${c.status}`, async () => {
      const init = c.anonymous ? c.init : {
        ...c.init,
        headers: { ...(c.init?.headers as Record<string, string>), ...STAFF_HEADERS },
      };
      const res = await app.request(c.path, init);
      assert.equal(res.status, c.status);
      const response = doc.paths[c.route]?.[method]?.responses[String(c.status)];
      assert.ok(response !== undefined, `the document has ${c.status} for ${method} ${c.route}`);
      const type = res.headers.get("content-type")!.split(";")[0]!;
      const media = (resolve(response).content as Record<string, Json>)[type];
      assert.ok(media !== undefined, `the document has ${type} for ${c.status}`);
      const parsed = schemaOf(media, c.path).safeParse(await res.json());
      assert.ok(parsed.success, parsed.error?.message ?? "");
    });
  }
});

Deno.test("the documented Idempotency-Key schema agrees with what POST /orders accepts", async (t) => {
  const { app } = setup();
  const keys = ["7f1c9a", "a".repeat(200), "a".repeat(201), "has space", "tab\tkey", "~!{}"];
  for (const key of keys) {
    await t.step(JSON.stringify(key.length > 20 ? `${key.length} characters` : key), async () => {
      const res = await app.request("/orders", {
        method: "POST",
        headers: { "content-type": "application/json", "Idempotency-Key": key },
        body: JSON.stringify(ex.orderInput),
      });
      await res.body?.cancel();
      assert.equal(res.status, IdempotencyKeySchema.safeParse(key).success ? 202 : 400);
    });
  }
});

Deno.test("GET /openapi.json serves the document and /docs serves Swagger UI from the gateway", async () => {
  const { app } = setup();
  assert.equal((await app.request("/openapi.json")).status, 401, "staff only");
  assert.equal((await app.request("/docs")).status, 401, "staff only");
  const spec = await app.request("/openapi.json", { headers: STAFF_HEADERS });
  assert.equal(spec.status, 200);
  assert.match(spec.headers.get("content-type") ?? "", /^application\/json/);
  assert.deepEqual(await spec.json(), JSON.parse(JSON.stringify(doc)));
  const page = await app.request("/docs", { headers: STAFF_HEADERS });
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
  const html = await page.text();
  const local = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(local.length >= 4);
  for (const url of local) {
    assert.match(url, /^(\/|data:)/, `${url} is served by the gateway`);
    if (url.startsWith("/docs/assets/")) {
      const res = await app.request(url);
      assert.equal(res.status, 200, url);
      assert.ok((await res.text()).length > 0);
    }
  }
  const init = await (await app.request("/docs/assets/docs.js")).text();
  assert.match(init, /url: "\/openapi\.json"/);
  assert.match(init, /validatorUrl: null/);
});
