/**
 * Topic `order_status` (compacted): every order's status as facts that last, one key per fact.
 *
 * - `{id}/step/{seq}`: the order reached state `seq` (with the order's fields and trace id), written
 *   by the processing role in the transaction of that transition.
 * - `{id}/mail/{state}`: the latest outcome of the customer's mail about `state`, written by the
 *   notification role in the transaction of that outcome.
 *
 * Why a key per fact rather than one snapshot per order: each key then has exactly one writer, and
 * each value is whole on its own, so no role has to read the status before it writes (no
 * read-modify-write, no race between the two roles, a redelivered batch writes the same values
 * again). Compaction keeps the latest value of each key: the reached states never overwrite each
 * other, and a mail retried and then sent replaces its own earlier outcome. A reader rebuilds an
 * order from its keys (at most four steps and four mails). A `null` value (tombstone) erases one key.
 */
import { z } from "zod";
import {
  type OrderNotified,
  OrderNotifiedSchema,
  type OrderTransition,
  OrderTransitionSchema,
} from "./order.ts";

/** `{id}/step/{seq}`: a state the order reached: its transition without the step still owed. */
export const OrderStepSchema = OrderTransitionSchema.omit({ next: true }).extend({
  type: z.literal("OrderStep"),
  /** The order's trace (W3C trace id), or null when its transition carried none. */
  traceId: z.string().nullable(),
});

/** An `OrderStep` fact. */
export type OrderStep = z.infer<typeof OrderStepSchema>;

/** `{id}/mail/{state}`: the latest outcome of one customer mail, as `order_notifications` has it. */
export const OrderMailSchema = OrderNotifiedSchema.extend({ type: z.literal("OrderMail") });

/** An `OrderMail` fact. */
export type OrderMail = z.infer<typeof OrderMailSchema>;

/** A value of the status topic. */
export const OrderStatusFactSchema = z.discriminatedUnion("type", [
  OrderStepSchema,
  OrderMailSchema,
]);

/** An `OrderStep` or `OrderMail`. */
export type OrderStatusFact = z.infer<typeof OrderStatusFactSchema>;

/** The key of step `seq` of order `id`. */
export function stepKey(id: string, seq: number): string {
  return `${id}/step/${seq}`;
}

/** The key of the mail about `state` of order `id`. */
export function mailKey(id: string, state: string): string {
  return `${id}/mail/${state}`;
}

/**
 * What a key names, or null when it is not a status key.
 *
 * @example
 * ```ts
 * import { parseStatusKey } from "./order_status.ts";
 * parseStatusKey("o1/step/2"); // { id: "o1", kind: "step", part: "2" }
 * ```
 */
export function parseStatusKey(
  key: string,
): { id: string; kind: "step" | "mail"; part: string } | null {
  const m = /^(.+)\/(step|mail)\/([a-z0-9]+)$/.exec(key);
  if (m === null) return null;
  return { id: m[1]!, kind: m[2] as "step" | "mail", part: m[3]! };
}

/**
 * The status record of a transition, for the same transaction.
 *
 * @param topic The status topic.
 * @param t The transition.
 * @param traceId The order's trace id, from the transition's `traceparent`.
 */
export function stepRecord(
  topic: string,
  t: OrderTransition,
  traceId: string | null,
): { topic: string; key: string; value: string } {
  const step: OrderStep = {
    v: 1,
    type: "OrderStep",
    id: t.id,
    order: t.order,
    state: t.state,
    seq: t.seq,
    at: t.at,
    requestedAt: t.requestedAt,
    traceId,
  };
  return { topic, key: stepKey(t.id, t.seq), value: JSON.stringify(step) };
}

/**
 * The status record of a mail outcome, for the same transaction.
 *
 * @param topic The status topic.
 * @param n The outcome as published on `order_notifications`.
 */
export function mailRecord(
  topic: string,
  n: OrderNotified,
): { topic: string; key: string; value: string } {
  const { v: _v, type: _type, ...rest } = n;
  const mail: OrderMail = { v: 1, type: "OrderMail", ...rest };
  return { topic, key: mailKey(n.id, n.state), value: JSON.stringify(mail) };
}
