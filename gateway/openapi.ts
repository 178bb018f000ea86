/**
 * The OpenAPI 3.1 description of the gateway, served at `GET /openapi.json` by `docs.ts`.
 *
 * Schemas are generated with zod's own `z.toJSONSchema` (JSON Schema 2020-12, the dialect of
 * OpenAPI 3.1) from the schemas that validate requests and from `api_schemas.ts` for answers:
 * there is no hand-written copy. Server-Sent Events and NDJSON bodies are strings in OpenAPI 3.1;
 * `x-sse-events` names the schema of each event's `data` and `x-ndjson-item` that of each line.
 */
import { z } from "zod";
import { componentSchemas, inputSchema, type Json } from "./json_schema.ts";
import { OrderInputSchema, OrderStateSchema } from "../lib/order.ts";
import { PurchaseSchema } from "../lib/purchase.ts";
import {
  ErasureAcceptedSchema,
  FieldErrorSchema,
  HealthSchema,
  HistoryEntrySchema,
  IdempotencyKeySchema,
  LineErrorSchema,
  NotificationEntrySchema,
  OrderAcceptedSchema,
  OrderListSchema,
  OrderStatusSchema,
  OrderStreamEndSchema,
  ProblemSchema,
  PurchaseAnalyticsSchema,
  PurchaseBatchResultSchema,
  PurchaseWindowSchema,
  ReadySchema,
} from "./api_schemas.ts";
import * as ex from "./openapi_examples.ts";
import { OrderListQuerySchema } from "./orders.ts";

/** Every schema the document names, by component name. */
export const COMPONENT_SCHEMAS = {
  OrderInput: OrderInputSchema,
  Purchase: PurchaseSchema,
  OrderState: OrderStateSchema,
  OrderAccepted: OrderAcceptedSchema,
  ErasureAccepted: ErasureAcceptedSchema,
  OrderStatus: OrderStatusSchema,
  OrderList: OrderListSchema,
  HistoryEntry: HistoryEntrySchema,
  Notification: NotificationEntrySchema,
  OrderStreamEnd: OrderStreamEndSchema,
  Problem: ProblemSchema,
  FieldError: FieldErrorSchema,
  LineError: LineErrorSchema,
  PurchaseBatchResult: PurchaseBatchResultSchema,
  PurchaseWindow: PurchaseWindowSchema,
  PurchaseAnalytics: PurchaseAnalyticsSchema,
  Health: HealthSchema,
  Ready: ReadySchema,
} as const satisfies Record<string, z.ZodType>;

/** A component schema's name. */
export type SchemaName = keyof typeof COMPONENT_SCHEMAS;

/** Request bodies: described as the validator reads them (zod's input side). */
const REQUEST_SCHEMAS: ReadonlySet<SchemaName> = new Set(["OrderInput", "Purchase"]);

const DESCRIPTIONS: Partial<Record<SchemaName, string>> = {
  OrderInput: "The body of `POST /orders`: the seed's dataset fields, nothing else.",
  Purchase: "One visit to the shop (the second report's persona). `taps` null or 0 is a visit " +
    "without purchase and then `folio` must be null; `taps` above 0 is a purchase and must carry " +
    "its `folio` (a rule JSON Schema cannot express here; the gateway enforces it).",
};

/** The component schemas, generated from zod, with their descriptions. */
function describedSchemas(): Record<string, Json> {
  const schemas = componentSchemas(
    COMPONENT_SCHEMAS,
    (id) => REQUEST_SCHEMAS.has(id as SchemaName) ? "input" : "output",
  );
  return Object.fromEntries(
    Object.entries(schemas).map(([id, schema]) => {
      const description = DESCRIPTIONS[id as SchemaName];
      return [id, description === undefined ? schema : { description, ...schema }];
    }),
  );
}

const ref = (name: SchemaName) => ({ $ref: `#/components/schemas/${name}` });
const examples = (values: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(values).map(([name, value]) => [name, { value }]));
const json = (name: SchemaName, values: Record<string, unknown>) => ({
  "application/json": { schema: ref(name), examples: examples(values) },
});
const problemRef = (name: string) => ({ $ref: `#/components/responses/${name}` });
const eventStream = (
  description: string,
  events: Partial<Record<string, SchemaName>>,
  example: string,
) => ({
  description,
  content: {
    "text/event-stream": {
      schema: { type: "string" },
      "x-sse-events": Object.fromEntries(
        Object.entries(events).map(([event, name]) => [event, ref(name!)]),
      ),
      examples: examples({ stream: example }),
    },
  },
});
const retryAfter = {
  "Retry-After": { description: "Seconds to wait before retrying", schema: { type: "integer" } },
};
const problemResponse = (
  description: string,
  values: Record<string, unknown>,
  headers?: Json,
) => ({
  description,
  ...(headers === undefined ? {} : { headers }),
  content: {
    "application/problem+json": { schema: ref("Problem"), examples: examples(values) },
  },
});
const text = (type: string, description: string) => ({
  description,
  content: { [type]: { schema: { type: "string" } } },
});
/** `GET` of one file of a page (`/assets/{name}`, `/docs/assets/{name}`). */
const assetOperation = (operationId: string, summary: string) => ({
  tags: ["web"],
  operationId,
  summary,
  parameters: [{ name: "name", in: "path", required: true, schema: { type: "string" } }],
  responses: {
    "200": {
      description: "The file",
      content: {
        "text/javascript": { schema: { type: "string" } },
        "text/css": { schema: { type: "string" } },
      },
    },
    "404": problemRef("AssetNotFound"),
  },
});

/**
 * Builds the OpenAPI 3.1 document of every route the gateway serves.
 *
 * @returns The document, ready for `JSON.stringify`.
 */
export function openApiDocument(): Json {
  return secured(unsecuredDocument());
}

/**
 * Who may call each operation, as `gateway/access.ts` wires it: staff, or a service (a shop's
 * backend) or staff. Operations not listed are open (the customer's own order: its id is the
 * capability).
 */
export const AUDIENCES: Readonly<Record<string, "staff" | "service">> = {
  "GET /orders": "staff",
  "DELETE /orders/{id}": "staff",
  "GET /analytics/purchases": "staff",
  "GET /analytics/purchases/events": "staff",
  "POST /purchases": "service",
  "GET /metrics": "staff",
  "GET /asyncapi.json": "staff",
  "GET /openapi.json": "staff",
  "GET /docs": "staff",
};

/** Adds each protected operation's credential, and its 401 and 403 answers. */
function secured(document: Json): Json {
  const paths = document.paths as Record<string, Record<string, Json>>;
  for (const [key, audience] of Object.entries(AUDIENCES)) {
    const [method, path] = key.split(" ") as [string, string];
    const op = paths[path]?.[method.toLowerCase()];
    if (op === undefined) {
      throw new Error(`Cannot secure ${key}: the document has no such operation`);
    }
    op.security = [{ bearer: [] }, { session: [] }];
    op.description = `${op.description ?? op.summary ?? ""}${op.description ? " " : ""}${
      audience === "staff"
        ? "Staff only (role `staff`)."
        : "A shop's backend (role `service`) or staff."
    }`;
    op.responses = {
      ...(op.responses as Json),
      "401": problemRef("Unauthorized"),
      "403": problemRef("Forbidden"),
    };
  }
  return document;
}

/** The document before {@linkcode secured} adds each protected operation's credential. */
function unsecuredDocument(): Json {
  const docs = docsPaths();
  return {
    openapi: "3.1.1",
    info: {
      title: "Despacho",
      version: "1",
      summary: "Delivery orders and purchase analytics on Apache Kafka",
      description: "Orders move recibido → preparando → entregando → finalizado with a mail at " +
        "every step; purchase events are classified, notified and aggregated per time window. " +
        "Every error is `application/problem+json`.",
    },
    servers: [{ url: "/" }],
    tags: [
      { name: "orders", description: "Place and follow delivery orders" },
      { name: "purchases", description: "Purchase events and their analytics" },
      { name: "health", description: "Liveness, readiness and metrics" },
      { name: "web", description: "The web page and these docs" },
    ],
    paths: {
      ...orderPaths(),
      ...purchasePaths(),
      ...purchaseAnalyticsPaths(),
      ...signInPaths(),
      ...healthPaths(),
      // The order the document has always listed its paths in: `/asyncapi.json` before
      // `/metrics` (the repeated key below keeps this place).
      "/asyncapi.json": docs["/asyncapi.json"],
      ...metricsPaths(),
      ...webPaths(),
      ...docs,
    },
    components: {
      schemas: describedSchemas(),
      securitySchemes: SECURITY_SCHEMES,
      responses: sharedResponses(),
    },
  };
}

/** `POST /orders`. */
function placeOrderOperation(): Json {
  return {
    tags: ["orders"],
    operationId: "placeOrder",
    summary: "Place an order",
    description: "Answers 202 once Kafka (acks=all) has the order. A retry with the same " +
      "`Idempotency-Key` and body gives the same order; another body with that key is a " +
      "422. The order joins the request's W3C trace (`traceparent`, or a new one): every " +
      "record of the order carries it, and the answer's `traceresponse` header names it.",
    parameters: [{
      name: "Idempotency-Key",
      in: "header",
      required: false,
      description: "Makes retries safe: the order id is derived from it",
      schema: inputSchema(IdempotencyKeySchema),
    }, {
      name: "traceparent",
      in: "header",
      required: false,
      description: "W3C Trace Context: the trace the order joins",
      schema: {
        type: "string",
        pattern: "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}",
      },
    }],
    requestBody: {
      required: true,
      content: json("OrderInput", { pizza: ex.orderInput }),
    },
    responses: {
      "202": {
        description: "Accepted: Kafka has the order",
        headers: {
          Location: { description: "`/orders/{id}`", schema: { type: "string" } },
          traceresponse: {
            description: "W3C Trace Context Level 2: `00-<trace-id>-<span-id>-<flags>`, " +
              "the order's trace",
            schema: { type: "string" },
          },
        },
        content: json("OrderAccepted", { accepted: ex.orderAccepted }),
      },
      "400": problemRef("BadRequest"),
      "413": problemRef("PayloadTooLarge"),
      "415": problemRef("UnsupportedMediaType"),
      "422": problemResponse(
        "A field is missing, of the wrong type, out of range or " +
          "extra; or the Idempotency-Key was used with another body",
        {
          invalidOrder: ex.problems.invalidOrder,
          keyReused: ex.problems.keyReused,
        },
      ),
      "429": problemRef("TooManyRequests"),
      "503": problemRef("ServiceUnavailable"),
    },
  };
}

/** `GET /orders`, its query described from the schema that validates it. */
function listOrdersOperation(): Json {
  const listQuery = Object.entries(OrderListQuerySchema.shape).map(([name, schema]) => {
    const { description, ...rest } = inputSchema(schema);
    return { name, in: "query", required: false, description, schema: rest };
  });
  return {
    tags: ["orders"],
    operationId: "listOrders",
    summary: "The latest orders, or a live stream of every change",
    description: "Newest first, from this gateway's view of the order topics. With " +
      "`watch=true`, Server-Sent Events: the latest `limit` orders first (oldest first), " +
      "then each order again every time it changes (new, a new state, a mail sent).",
    parameters: listQuery,
    responses: {
      "200": {
        description: "The orders (JSON), or their changes (`watch=true`)",
        content: {
          ...json("OrderList", {
            orders: { orders: [ex.orderJustAccepted, ex.orderStatus] },
          }),
          ...eventStream("", { order: "OrderStatus" }, ex.sse([["order", ex.orderStatus]]))
            .content,
        },
      },
      "422": problemResponse("`limit` or `watch` out of range", {
        invalidQuery: ex.problems.invalidQuery,
      }),
      "429": problemRef("TooManyStreams"),
    },
  };
}

/** `DELETE /orders/{id}` (`order_erasure.ts`). */
function eraseOrderOperation(): Json {
  return {
    tags: ["orders"],
    operationId: "eraseOrder",
    summary: "Erase an order's personal data (a customer's right to erasure)",
    description: "Writes one erasure request to `order_erasures`; every role honours it, " +
      "also on replay: an order in flight is cancelled where it stood (no more states, no " +
      "more mail), its status is tombstoned, and every later read answers 404. Leaves an " +
      "audit record (who, which id, when).",
    parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
    responses: {
      "202": {
        description: "Accepted: Kafka has the erasure request",
        content: json("ErasureAccepted", { requested: ex.erasureAccepted }),
      },
      "404": problemRef("OrderNotFound"),
      "503": problemRef("ServiceUnavailable"),
    },
  };
}

/** The orders resource (`orders.ts`). */
function orderPaths(): Record<string, Json> {
  return {
    "/orders": { post: placeOrderOperation(), get: listOrdersOperation() },
    "/orders/{id}": {
      get: {
        tags: ["orders"],
        operationId: "getOrder",
        summary: "An order: its state, each state's time and the mails sent",
        parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
        responses: {
          "200": {
            description: "The order",
            content: json("OrderStatus", { finalizado: ex.orderStatus }),
          },
          "404": problemRef("OrderNotFound"),
        },
      },
      delete: eraseOrderOperation(),
    },
    "/orders/{id}/events": {
      get: {
        tags: ["orders"],
        operationId: "watchOrder",
        summary: "Watch an order move (Server-Sent Events)",
        description: "Reached states and mails first, then live ones; `end` after finalizado, " +
          "then the stream closes.",
        parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
        responses: {
          "200": eventStream(
            "States (`state`), mail outcomes (`notification`), and `end`",
            { state: "HistoryEntry", notification: "Notification", end: "OrderStreamEnd" },
            ex.sse([
              ...ex.history.map((h, i) => [
                ["state", h] as const,
                ["notification", ex.notifications[i]] as const,
              ]).flat(),
              ["end", ex.orderStreamEnd],
            ]),
          ),
          "404": problemRef("OrderNotFound"),
          "429": problemRef("TooManyStreams"),
        },
      },
    },
  };
}

/** `POST /purchases` (`purchases.ts`). */
function purchasePaths(): Record<string, Json> {
  return {
    "/purchases": {
      post: {
        tags: ["purchases"],
        operationId: "postPurchases",
        summary: "Send purchase events: one (JSON) or a batch (NDJSON, one per line)",
        description: "Each item is validated; valid ones are published keyed by person id " +
          "(acks=all), invalid ones are listed by line and never reach Kafka. " +
          "`application/ndjson` is accepted as well as `application/x-ndjson`.",
        requestBody: {
          required: true,
          content: {
            ...json("Purchase", { purchase: ex.purchase }),
            "application/x-ndjson": {
              schema: { type: "string", description: "One Purchase per line" },
              "x-ndjson-item": ref("Purchase"),
              examples: examples({
                batch: [ex.purchase, ex.visit].map((p) => JSON.stringify(p)).join("\n") + "\n",
              }),
            },
          },
        },
        responses: {
          "202": {
            description: "Every item was valid and is published",
            content: json("PurchaseBatchResult", { all: ex.batchAccepted }),
          },
          "207": {
            description: "Some items were valid (published), some not (listed by line)",
            content: json("PurchaseBatchResult", { partial: ex.batchPartial }),
          },
          "413": problemRef("PayloadTooLarge"),
          "415": problemRef("UnsupportedMediaType"),
          "422": problemResponse("No item is valid", {
            invalidPurchases: ex.problems.invalidPurchases,
          }),
          "429": problemRef("TooManyRequests"),
          "503": problemRef("ServiceUnavailable"),
        },
      },
    },
  };
}

/** The purchase analytics (`purchase_analytics.ts`). */
function purchaseAnalyticsPaths(): Record<string, Json> {
  return {
    "/analytics/purchases": {
      get: {
        tags: ["purchases"],
        operationId: "getPurchaseAnalytics",
        summary: "The latest closed windows (newest first) and the totals",
        parameters: [{
          name: "limit",
          in: "query",
          required: false,
          description: "Windows to return; values outside 1–360 are clamped",
          schema: { type: "integer", default: 20 },
        }],
        responses: {
          "200": {
            description: "Windows merged across partitions, and totals since the start",
            content: json("PurchaseAnalytics", { analytics: ex.purchaseAnalytics }),
          },
        },
      },
    },
    "/analytics/purchases/events": {
      get: {
        tags: ["purchases"],
        operationId: "watchPurchaseAnalytics",
        summary: "Each window as it closes (Server-Sent Events)",
        description: "A window is sent again when another partition reports it.",
        responses: {
          "200": eventStream(
            "One `window` event per window record",
            { window: "PurchaseWindow" },
            ex.sse([["window", ex.purchaseWindow]]),
          ),
          "429": problemRef("TooManyStreams"),
        },
      },
    },
  };
}

/** The staff session (`auth/sign_in.ts`). */
function signInPaths(): Record<string, Json> {
  return {
    "/sign-in": {
      post: {
        tags: ["web"],
        operationId: "signIn",
        summary: "Open a staff session",
        description: "The web page posts the staff token from its sign-in link (`/#token=…`, " +
          "a fragment: it never reaches a server) or form; answers 303 to `/` with the " +
          "session cookie (`HttpOnly`, `SameSite=Strict`, `Secure` over HTTPS).",
        requestBody: {
          required: true,
          content: {
            "application/x-www-form-urlencoded": {
              schema: {
                type: "object",
                properties: { token: { type: "string" } },
                required: ["token"],
              },
            },
          },
        },
        responses: {
          "303": { description: "Signed in: the session cookie is set" },
          "401": problemRef("Unauthorized"),
          "413": problemRef("PayloadTooLarge"),
          "403": problemRef("Forbidden"),
        },
      },
    },
    "/sign-out": {
      post: {
        tags: ["web"],
        operationId: "signOut",
        summary: "Close the staff session",
        responses: {
          "303": { description: "Signed out: the session cookie is cleared" },
          "403": problemRef("Forbidden"),
        },
      },
    },
  };
}

/** The probes (`health.ts`). */
function healthPaths(): Record<string, Json> {
  return {
    "/healthz": {
      get: {
        tags: ["health"],
        operationId: "health",
        summary: "Liveness: the process answers",
        responses: {
          "200": { description: "Alive", content: json("Health", { ok: { status: "ok" } }) },
        },
      },
    },
    "/readyz": {
      get: {
        tags: ["health"],
        operationId: "ready",
        summary: "Readiness: Kafka takes writes and the order store is caught up",
        responses: {
          "200": { description: "Ready", content: json("Ready", { ready: { ready: true } }) },
          "503": problemResponse("Not ready", { notReady: ex.problems.notReady }, retryAfter),
        },
      },
    },
  };
}

/** `GET /metrics` (`metrics.ts`). */
function metricsPaths(): Record<string, Json> {
  return {
    "/metrics": {
      get: {
        tags: ["health"],
        operationId: "metrics",
        summary: "The gateway's Prometheus metrics (text format 0.0.4)",
        description: "HTTP requests by route pattern and status with latencies, orders " +
          "accepted and refused by reason, Kafka produce latency, process figures. The " +
          "README lists every metric.",
        responses: {
          "200": text("text/plain; version=0.0.4; charset=utf-8", "Prometheus text format"),
        },
      },
    },
  };
}

/** The web page and its files (`web.ts`). */
function webPaths(): Record<string, Json> {
  return {
    "/": {
      get: {
        tags: ["web"],
        operationId: "page",
        summary: "The web page: place, watch and review orders; the purchase dashboard",
        responses: { "200": text("text/html", "The page") },
      },
    },
    "/assets/{name}": {
      get: assetOperation("pageAsset", "A file of the page (script, style, chart library)"),
    },
  };
}

/** The documents and the docs page (`docs.ts`). */
function docsPaths(): Record<string, Json> {
  return {
    "/asyncapi.json": {
      get: {
        tags: ["web"],
        operationId: "asyncApi",
        summary: "The AsyncAPI 3.0 description of the Kafka topics and their records",
        responses: { "200": text("application/json", "AsyncAPI 3.0 document") },
      },
    },
    "/openapi.json": {
      get: {
        tags: ["web"],
        operationId: "openApi",
        summary: "This document",
        responses: {
          "200": {
            description: "OpenAPI 3.1",
            content: { "application/json": { schema: { type: "object" } } },
          },
        },
      },
    },
    "/docs": {
      get: {
        tags: ["web"],
        operationId: "docs",
        summary: "Interactive docs of this document (Swagger UI)",
        responses: { "200": text("text/html", "The docs page") },
      },
    },
    "/docs/assets/{name}": { get: assetOperation("docsAsset", "A file of the docs page") },
  };
}

/** The two credentials a protected operation takes. */
const SECURITY_SCHEMES = {
  bearer: {
    type: "http",
    scheme: "bearer",
    description: "A JWT from the organisation's OpenID Connect provider (roles in " +
      "`OIDC_ROLES_CLAIM`), or the staff token. Never in the query string.",
  },
  session: {
    type: "apiKey",
    in: "cookie",
    name: "despacho_session",
    description: "A staff session from `POST /sign-in` (`__Host-despacho_session` over " +
      "HTTPS). A request that changes state with it must come from the gateway's own pages.",
  },
};

/** The answers several operations share, named in `#/components/responses`. */
function sharedResponses(): Record<string, Json> {
  return {
    Unauthorized: problemResponse(
      "No credential, or one that is not valid (forged, expired, another audience, in the " +
        "query string); `reason` says which",
      { missing: ex.problems.unauthorized },
      {
        "WWW-Authenticate": {
          description: '`Bearer realm="despacho"`',
          schema: { type: "string" },
        },
      },
    ),
    Forbidden: problemResponse(
      "A valid credential without the role this operation needs, or a cookie request from " +
        "another site",
      { noRole: ex.problems.forbidden },
    ),
    BadRequest: problemResponse("The body is not JSON, or the Idempotency-Key is malformed", {
      malformedJson: ex.problems.malformedJson,
      badIdempotencyKey: ex.problems.badIdempotencyKey,
    }),
    OrderNotFound: problemResponse("No order has this id", {
      orderNotFound: ex.problems.orderNotFound,
    }),
    AssetNotFound: problemResponse("No such file", {
      assetNotFound: ex.problems.assetNotFound,
    }),
    PayloadTooLarge: problemResponse("The body is larger than MAX_BODY_BYTES", {
      tooLarge: ex.problems.tooLarge,
    }),
    UnsupportedMediaType: problemResponse("The content type is not one this route reads", {
      mediaType: ex.problems.mediaType,
    }),
    TooManyRequests: problemResponse(
      "The gateway is over capacity and sheds load, or this client address sent more than " +
        "its rate (ORDER_RATE_PER_S, bursts of ORDER_BURST); retry after Retry-After seconds",
      { overloaded: ex.problems.overloaded, rateLimited: ex.problems.rateLimited },
      retryAfter,
    ),
    TooManyStreams: problemResponse(
      "This client address holds STREAMS_PER_CLIENT event streams open already; close one",
      { tooManyStreams: ex.problems.tooManyStreams },
      retryAfter,
    ),
    ServiceUnavailable: problemResponse(
      "Kafka is unreachable or did not acknowledge within KAFKA_ACK_TIMEOUT_MS",
      { kafkaDown: ex.problems.kafkaDown },
      retryAfter,
    ),
  };
}
