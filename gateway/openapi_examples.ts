/**
 * Example values of the OpenAPI document, typed by the schemas they illustrate; `openapi_test.ts`
 * also checks each one against its schema at run time (the purchase rules on `taps` and `folio`
 * are a refinement that types cannot carry).
 */
import type { z } from "zod";
import type { OrderInput } from "../lib/order.ts";
import type { Purchase } from "../lib/purchase.ts";
import type {
  ErasureAcceptedSchema,
  HistoryEntrySchema,
  NotificationEntrySchema,
  OrderAcceptedSchema,
  OrderStatusSchema,
  OrderStreamEndSchema,
  ProblemSchema,
  PurchaseAnalyticsSchema,
  PurchaseBatchResultSchema,
  PurchaseWindowSchema,
} from "./api_schemas.ts";

type Of<S extends z.ZodType> = z.input<S>;

const ID = "4f6b2a2e-8d7c-4c59-a1de-0a3c3b9e51f0";

/** A valid order body. */
export const orderInput: OrderInput = {
  name: "Pizza napolitana",
  price: 12990,
  email: "cliente@example.cl",
};

/** The 202 answer. */
export const orderAccepted: Of<typeof OrderAcceptedSchema> = {
  id: ID,
  state: "recibido",
  links: { self: `/orders/${ID}`, events: `/orders/${ID}/events` },
};

/** The answer to `DELETE /orders/{id}`. */
export const erasureAccepted: Of<typeof ErasureAcceptedSchema> = {
  id: orderAccepted.id,
  erasure: "requested",
};

const states = ["recibido", "preparando", "entregando", "finalizado"] as const;

/** Each state of the example order. */
export const history: Of<typeof HistoryEntrySchema>[] = states.map((state, i) => ({
  state,
  seq: i + 1,
  at: new Date(Date.UTC(2026, 10, 24, 12, 0, 2 * i)).toISOString(),
}));

/** Each mail of the example order. */
export const notifications: Of<typeof NotificationEntrySchema>[] = states.map((state, i) => ({
  state,
  to: orderInput.email,
  messageId: `<${ID}.${state}@despacho.local>`,
  status: "sent",
  attempts: 1,
  at: new Date(Date.UTC(2026, 10, 24, 12, 0, 2 * i, 80)).toISOString(),
}));

/** An order that went all the way. */
export const orderStatus: Of<typeof OrderStatusSchema> = {
  id: ID,
  order: orderInput,
  state: "finalizado",
  history,
  notifications,
  traceId: "0af7651916cd43dd8448eb211c80319c",
  links: orderAccepted.links,
};

/** An order the gateway has accepted and processing has not taken yet. */
export const orderJustAccepted: Of<typeof OrderStatusSchema> = {
  id: "9b0e7c44-1f55-4d3e-8f0a-6f1c2d3e4a5b",
  order: { name: "Sushi", price: 15990, email: "otra@example.cl" },
  state: "recibido",
  history: [],
  notifications: [],
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  links: {
    self: "/orders/9b0e7c44-1f55-4d3e-8f0a-6f1c2d3e4a5b",
    events: "/orders/9b0e7c44-1f55-4d3e-8f0a-6f1c2d3e4a5b/events",
  },
};

/** The last event of an order's stream. */
export const orderStreamEnd: Of<typeof OrderStreamEndSchema> = { id: ID, state: "finalizado" };

/**
 * Server-Sent Events text.
 *
 * @param events Event names and their data, in order.
 * @returns The stream as a client reads it.
 */
export function sse(events: readonly (readonly [string, unknown])[]): string {
  return events.map(([event, data]) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    .join("");
}

/** A purchase, in the report's words (section 5.1). */
export const purchase: Purchase = {
  v: 1,
  type: "Purchase",
  id: "062292fdfb7e3e688f29418e",
  nombre: "Scarlett",
  apellido: "Morris",
  edad: 44,
  email: "Scarlett.Morris@mail.com",
  telefono: "+70 976-874-0232",
  ubicacion: { direccion: "123 Abbey Road", ciudad: "Lakewood", pais: "Inverness" },
  productovisto: "Colchón de espuma viscoelástica",
  taps: 17.8,
  folio: "SRZ-5509",
  ts: "2026-11-24T12:00:03.000Z",
};

/** A visit without purchase (section 5.1). */
export const visit: Purchase = {
  v: 1,
  type: "Purchase",
  id: "6b28427ff85faa10eb5321dc",
  nombre: "John",
  apellido: "Harrison",
  edad: 63,
  email: "John.Harrison@mail.com",
  telefono: "+94 585-941-9707",
  ubicacion: { direccion: "789 Via Milano", ciudad: "Rosewood", pais: "Queenshire" },
  productovisto: "Kit de maquillaje profesional",
  taps: 0,
  folio: null,
  ts: "2026-11-24T12:00:05.000Z",
};

/** All valid. */
export const batchAccepted: Of<typeof PurchaseBatchResultSchema> = {
  accepted: 2,
  rejected: 0,
  errors: [],
};

/** Some lines refused. */
export const batchPartial: Of<typeof PurchaseBatchResultSchema> = {
  accepted: 1,
  rejected: 1,
  errors: [{ line: 2, errors: [{ field: "folio", message: "is required when taps is above 0" }] }],
};

/** A closed window. */
export const purchaseWindow: Of<typeof PurchaseWindowSchema> = {
  start: "2026-11-24T12:00:00.000Z",
  end: "2026-11-24T12:00:10.000Z",
  partitions: 2,
  events: 2,
  purchases: 1,
  visitsWithoutPurchase: 1,
  conversionRate: 0.5,
  shortPurchases: 1,
  longPurchases: 0,
  taps: { mean: 17.8, p50: 17.8, p95: 17.8 },
  topProducts: [{ product: "Colchón de espuma viscoelástica", purchases: 1 }],
  purchasesByCountry: { Inverness: 1 },
};

/** Windows and totals. */
export const purchaseAnalytics: Of<typeof PurchaseAnalyticsSchema> = {
  windows: [purchaseWindow],
  totals: {
    events: 2,
    purchases: 1,
    visitsWithoutPurchase: 1,
    conversionRate: 0.5,
    shortPurchases: 1,
    longPurchases: 0,
    taps: { mean: 17.8, p50: 17.8, p95: 17.8 },
    topProducts: [{ product: "Colchón de espuma viscoelástica", purchases: 1 }],
    purchasesByCountry: { Inverness: 1 },
    late: 0,
    invalid: 0,
  },
};

type Problem = Of<typeof ProblemSchema>;
const problem = (status: number, title: string, detail: string, errors?: Problem["errors"]) => ({
  type: `https://despacho.local/problems/${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`,
  title,
  status,
  detail,
  ...(errors === undefined ? {} : { errors }),
});

/** One problem example per status (and kind). */
export const problems = {
  malformedJson: problem(
    400,
    "Malformed JSON",
    "Cannot accept order: body is not valid JSON: Expected property name or '}' in JSON at position 1",
    [{ field: "(body)", message: "is not valid JSON" }],
  ),
  badIdempotencyKey: problem(
    400,
    "Invalid Idempotency-Key",
    "Cannot accept order: Idempotency-Key must be 1 to 200 visible ASCII characters",
    [{ field: "Idempotency-Key", message: "must be 1 to 200 visible ASCII characters" }],
  ),
  orderNotFound: problem(404, "Order not found", `Cannot find order: no order has id "nope"`),
  unauthorized: {
    ...problem(
      401,
      "Unauthorized",
      "Cannot GET /orders: this resource needs a credential (Authorization: Bearer or sign-in)",
    ),
    type: "https://despacho.local/problems/unauthorized",
    reason: "missing",
  },
  forbidden: {
    ...problem(403, "Forbidden", "Cannot GET /orders: this resource needs the role staff"),
    type: "https://despacho.local/problems/forbidden",
    reason: "no-role",
  },
  tooLarge: problem(413, "Body too large", "Cannot accept order: body exceeds 1048576 bytes"),
  mediaType: problem(
    415,
    "Unsupported media type",
    'Cannot accept order: content type must be application/json: current value is "text/plain"',
    [{ field: "content-type", message: "must be application/json" }],
  ),
  invalidOrder: problem(
    422,
    "Invalid order",
    "Cannot accept order: price Too small: expected number to be >=1",
    [{ field: "price", message: "Too small: expected number to be >=1" }],
  ),
  keyReused: problem(
    422,
    "Idempotency-Key reused",
    'Cannot reuse Idempotency-Key "7f1c9a": it was first used with a different body',
  ),
  invalidPurchases: problem(
    422,
    "Invalid purchases",
    "Cannot accept purchases: none of 1 items is valid",
    [{ field: "line 1: taps", message: "Too small: expected number to be >=0" }],
  ),
  invalidQuery: problem(
    422,
    "Invalid query",
    "Cannot list orders: limit Too big: expected number to be <=100",
    [{ field: "limit", message: "Too big: expected number to be <=100" }],
  ),
  overloaded: problem(
    429,
    "Too many requests",
    "Cannot accept order: the gateway is over capacity; retry after 2 s",
  ),
  rateLimited: problem(
    429,
    "Rate limit exceeded",
    "Cannot accept order: more than 5 orders a second (bursts of 20) from this client address; retry in 1 s",
  ),
  tooManyStreams: problem(
    429,
    "Too many open streams",
    "Cannot open event stream: 10 streams already open from this client address; close one first",
  ),
  kafkaDown: problem(
    503,
    "Kafka unavailable",
    "Cannot publish: Kafka did not acknowledge within 5000 ms",
  ),
  notReady: problem(
    503,
    "Not ready",
    "Not ready: kafka writes unavailable, order store ok",
  ),
  assetNotFound: problem(404, "Asset not found", 'Cannot find asset: none is named "nope.js"'),
} satisfies Record<string, Problem>;
