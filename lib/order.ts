/**
 * The delivery order: its request body, its states and the events it produces on the wire.
 * zod schemas here are the single source of these types.
 */
import { z } from "zod";
import { DespachoError } from "./errors.ts";
import { plainEmail, plainText } from "./plain_text.ts";

/** The states an order moves through, in order (from the seed). */
export const ORDER_STATES = ["recibido", "preparando", "entregando", "finalizado"] as const;

/** One of {@linkcode ORDER_STATES}. */
export type OrderState = typeof ORDER_STATES[number];

/** zod schema of an order state. */
export const OrderStateSchema = z.enum(ORDER_STATES);

/**
 * Legal moves: each state to the states it may move to. `recibido` is entered from nothing
 * (`null`), when the processing role first takes the request.
 */
export const ORDER_TRANSITIONS: Readonly<Record<OrderState | "new", readonly OrderState[]>> = {
  new: ["recibido"],
  recibido: ["preparando"],
  preparando: ["entregando"],
  entregando: ["finalizado"],
  finalizado: [],
};

/** Thrown by {@linkcode transitionTo} on a move the table does not allow. Never retriable. */
export class IllegalTransitionError extends DespachoError {
  /** The state the order was in (`null` for a new order). */
  readonly from: OrderState | null;
  /** The state that was asked for. */
  readonly to: OrderState;

  /**
   * @param from The current state, or `null` for a new order.
   * @param to The requested state.
   */
  constructor(from: OrderState | null, to: OrderState) {
    super(
      "ILLEGAL_TRANSITION",
      `Cannot move order from ${from ?? "new"} to ${to}: allowed next states are ${
        ORDER_TRANSITIONS[from ?? "new"].join(", ") || "none"
      }`,
    );
    this.name = "IllegalTransitionError";
    this.from = from;
    this.to = to;
  }
}

/**
 * Checks one move against {@linkcode ORDER_TRANSITIONS}.
 *
 * @param from The current state, or `null` for an order not yet in any state.
 * @param to The state to move to.
 * @returns `to`, when the move is legal.
 * @throws {IllegalTransitionError} When the table does not allow the move.
 *
 * @example
 * ```ts
 * import { transitionTo } from "./order.ts";
 * transitionTo("recibido", "preparando"); // "preparando"
 * ```
 */
export function transitionTo(from: OrderState | null, to: OrderState): OrderState {
  if (!ORDER_TRANSITIONS[from ?? "new"].includes(to)) throw new IllegalTransitionError(from, to);
  return to;
}

/**
 * The state that follows `state`, or `null` after the last one.
 *
 * @param state The current state, or `null` for a new order.
 * @returns The next state in {@linkcode ORDER_STATES}, or `null` for `finalizado`.
 */
export function nextState(state: OrderState | null): OrderState | null {
  return ORDER_TRANSITIONS[state ?? "new"][0] ?? null;
}

/**
 * The body of `POST /orders`: the seed's dataset fields, nothing else. Text without control
 * characters: the name and address go into mail headers and logs.
 */
export const OrderInputSchema = z.strictObject({
  name: plainText(1, 100),
  price: z.number().min(1).max(1_000_000),
  email: plainEmail(254),
});

/** A validated order body. */
export type OrderInput = z.infer<typeof OrderInputSchema>;

/** Topic `order_requests`: an accepted order, keyed by `id`. */
export const OrderRequestedSchema = z.object({
  v: z.literal(1),
  type: z.literal("OrderRequested"),
  id: z.string().min(1).max(64),
  order: OrderInputSchema,
  /** When the gateway accepted it (ISO 8601). */
  requestedAt: z.iso.datetime(),
});

/** An `OrderRequested` event. */
export type OrderRequested = z.infer<typeof OrderRequestedSchema>;

/** Topic `order_processing`: one state change of one order, keyed by `id`. */
export const OrderTransitionSchema = z.object({
  v: z.literal(1),
  type: z.literal("OrderTransition"),
  id: z.string().min(1).max(64),
  order: OrderInputSchema,
  state: OrderStateSchema,
  /** 1 for recibido … 4 for finalizado. */
  seq: z.int().min(1).max(ORDER_STATES.length),
  /** When the order entered `state` (ISO 8601). */
  at: z.iso.datetime(),
  /** When the order was accepted by the gateway (ISO 8601), carried for latency accounting. */
  requestedAt: z.iso.datetime(),
  /**
   * The transition still owed to this order, or `null` when none is (finalized, or the next one
   * was published in the same transaction). Only records with `next` drive the processing role.
   */
  next: z.object({ state: OrderStateSchema, dueAt: z.iso.datetime() }).nullable(),
});

/** An `OrderTransition` event. */
export type OrderTransition = z.infer<typeof OrderTransitionSchema>;

/** Topic `order_notifications`: the outcome of mailing the customer about one transition. */
export const OrderNotifiedSchema = z.object({
  v: z.literal(1),
  type: z.literal("OrderNotified"),
  id: z.string().min(1).max(64),
  state: OrderStateSchema,
  to: z.string(),
  /** Deterministic per (order, state): a redelivery yields the same Message-ID. */
  messageId: z.string(),
  status: z.enum(["sent", "failed"]),
  attempts: z.int().min(1),
  error: z.string().optional(),
  at: z.iso.datetime(),
});

/** An `OrderNotified` event. */
export type OrderNotified = z.infer<typeof OrderNotifiedSchema>;

/**
 * Topic `order_erasures` (compacted, kept for good): staff asked to erase an order's personal data
 * (`DELETE /orders/{id}`), keyed by `id`. Written by the gateway; honoured by every reader, also on
 * replay. It holds the id and a time, nothing personal.
 */
export const OrderErasureRequestedSchema = z.object({
  v: z.literal(1),
  type: z.literal("OrderErasureRequested"),
  id: z.string().min(1).max(64),
  /** When the gateway accepted the request (ISO 8601). */
  requestedAt: z.iso.datetime(),
});

/** An `OrderErasureRequested` event. */
export type OrderErasureRequested = z.infer<typeof OrderErasureRequestedSchema>;

/**
 * The erasure request the gateway writes for order `id`.
 *
 * @param topic The erasures topic.
 * @param id The order.
 * @param now When the request was accepted.
 */
export function erasureRequestRecord(
  topic: string,
  id: string,
  now: Date,
): { topic: string; key: string; value: string } {
  const request: OrderErasureRequested = {
    v: 1,
    type: "OrderErasureRequested",
    id,
    requestedAt: now.toISOString(),
  };
  return { topic, key: id, value: JSON.stringify(request) };
}

/**
 * Topic `order_processing`: the order was erased, keyed by `id`. Written by the processing role when
 * it takes an erasure request, so that in each partition it sits after every transition published
 * before it: a reader that meets it knows no later transition of the order is owed (the order is
 * cancelled where it stood) and erases what it wrote about the order.
 */
export const OrderErasedSchema = z.object({
  v: z.literal(1),
  type: z.literal("OrderErased"),
  id: z.string().min(1).max(64),
  /** When the processing role took the erasure (ISO 8601). */
  at: z.iso.datetime(),
});

/** An `OrderErased` event. */
export type OrderErased = z.infer<typeof OrderErasedSchema>;

/** A record of `order_processing`: a transition, or the order's erasure. */
export const OrderProcessingEventSchema = z.discriminatedUnion("type", [
  OrderTransitionSchema,
  OrderErasedSchema,
]);

/** An `OrderTransition` or `OrderErased`. */
export type OrderProcessingEvent = z.infer<typeof OrderProcessingEventSchema>;
