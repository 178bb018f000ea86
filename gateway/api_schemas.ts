/**
 * zod schemas of what the gateway answers, for the OpenAPI document. Request bodies are not here:
 * the document uses the very schemas that validate them (`OrderInputSchema`, `PurchaseSchema`,
 * `OrderListQuerySchema`). The answers are built by handlers typed with TypeScript interfaces;
 * each schema below is checked at compile time to describe exactly that interface (see the end of
 * this file), so the document cannot drift from the code without `deno check` failing. The report
 * of a window or of the totals is the wire schema the analytics records carry
 * (`PurchaseReportSchema`, lib/purchase.ts).
 */
import { z } from "zod";
import { OrderInputSchema, OrderNotifiedSchema, OrderStateSchema } from "../lib/order.ts";
import type { HistoryEntry, NotificationEntry, OrderStatus } from "./order_view.ts";
import type { FieldError, Problem } from "./problem.ts";
import { PurchaseReportSchema } from "../lib/purchase.ts";
import type { MergedWindow, PurchaseAnalyticsView } from "./purchase_analytics.ts";
import type { ErasureAccepted } from "./order_erasure.ts";
import type { LinkedOrder } from "./orders.ts";
import type { LineError } from "./purchases.ts";

/** One invalid field of a request. */
export const FieldErrorSchema = z.object({
  field: z.string().meta({ description: "Dotted path of the field, or `(body)`" }),
  message: z.string(),
});

/** An RFC 9457 problem: the body of every error answer (`application/problem+json`). */
export const ProblemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.int().min(400).max(599),
  detail: z.string().meta({ description: "This occurrence, naming the value" }),
  errors: z.array(FieldErrorSchema).exactOptional(),
  reason: z.string().exactOptional().meta({
    description: "Why a credential was refused (401, 403): missing, expired, wrong-audience…",
  }),
});

/** The value of an `Idempotency-Key` header, declared with the store that honours the key. */
export { IdempotencyKeySchema } from "./idempotency.ts";

/** Where a client reads more about an order. */
export const OrderLinksSchema = z.object({
  self: z.string().meta({ description: "`/orders/{id}`" }),
  events: z.string().meta({ description: "`/orders/{id}/events`" }),
});

/** The answer to an accepted `POST /orders`. */
export const OrderAcceptedSchema = z.object({
  id: z.string(),
  state: OrderStateSchema,
  links: OrderLinksSchema,
});

/** The answer to an accepted `DELETE /orders/{id}`. */
export const ErasureAcceptedSchema = z.object({
  id: z.string(),
  erasure: z.literal("requested").meta({
    description: "The erasure request is in Kafka; the roles carry it out moments later",
  }),
});

/** One reached state of an order. */
export const HistoryEntrySchema = z.object({
  state: OrderStateSchema,
  seq: z.int().min(1).max(4).meta({ description: "1 for recibido … 4 for finalizado" }),
  at: z.iso.datetime().meta({ description: "When the order entered the state" }),
});

/** The outcome of one customer mail. */
export const NotificationEntrySchema = OrderNotifiedSchema.omit({ v: true, type: true, id: true });

/** An order as the gateway knows it, with its links. */
export const OrderStatusSchema = z.object({
  id: z.string(),
  order: OrderInputSchema,
  state: OrderStateSchema,
  history: z.array(HistoryEntrySchema),
  notifications: z.array(NotificationEntrySchema),
  traceId: z.string().regex(/^[0-9a-f]{32}$/).nullable().meta({
    description: "The order's W3C trace id (the `POST`'s, carried by each of its Kafka records); " +
      "null while unknown",
  }),
  links: OrderLinksSchema,
});

/** `GET /orders`: the latest orders, newest first. */
export const OrderListSchema = z.object({ orders: z.array(OrderStatusSchema) });

/** The last event of `GET /orders/{id}/events`. */
export const OrderStreamEndSchema = z.object({
  id: z.string(),
  state: OrderStateSchema.exactOptional(),
});

/** One refused line of a `POST /purchases` batch. */
export const LineErrorSchema = z.object({
  line: z.int().min(1).meta({ description: "1-based line of the body" }),
  errors: z.array(FieldErrorSchema),
});

/** The answer to `POST /purchases` with at least one valid item (202 or 207). */
export const PurchaseBatchResultSchema = z.object({
  accepted: z.int().min(1),
  rejected: z.int().min(0),
  errors: z.array(LineErrorSchema),
});

/** A closed window, merged across the partitions that reported it. */
export const PurchaseWindowSchema = z.object({
  ...PurchaseReportSchema.shape,
  start: z.iso.datetime(),
  end: z.iso.datetime(),
  partitions: z.int().min(1).meta({ description: "Partitions that reported this window so far" }),
});

/** Every event since the start, over every partition. */
export const PurchaseTotalsSchema = z.object({
  ...PurchaseReportSchema.shape,
  late: z.int().min(0).meta({ description: "Events that came after their window closed" }),
  invalid: z.int().min(0).meta({ description: "Records that could not be parsed" }),
});

/** `GET /analytics/purchases`. */
export const PurchaseAnalyticsSchema = z.object({
  windows: z.array(PurchaseWindowSchema).meta({ description: "The latest windows, newest first" }),
  totals: PurchaseTotalsSchema,
});

/** `GET /healthz`. */
export const HealthSchema = z.object({ status: z.literal("ok") });

/** `GET /readyz` when ready. */
export const ReadySchema = z.object({ ready: z.literal(true) });

// Compile-time proof that each schema describes exactly the type its handler answers with.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _same: [
  Same<z.infer<typeof FieldErrorSchema>, FieldError>,
  Same<z.infer<typeof ProblemSchema>, Problem>,
  Same<z.infer<typeof HistoryEntrySchema>, HistoryEntry>,
  Same<z.infer<typeof NotificationEntrySchema>, NotificationEntry>,
  Same<Omit<z.infer<typeof OrderStatusSchema>, "links">, OrderStatus>,
  Same<z.infer<typeof OrderStatusSchema>, LinkedOrder>,
  Same<z.infer<typeof LineErrorSchema>, LineError>,
  Same<z.infer<typeof PurchaseWindowSchema>, MergedWindow>,
  Same<z.infer<typeof PurchaseTotalsSchema>, ReturnType<PurchaseAnalyticsView["totals"]>>,
  Same<z.infer<typeof ErasureAcceptedSchema>, ErasureAccepted>,
] = [true, true, true, true, true, true, true, true, true, true];
