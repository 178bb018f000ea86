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
 *
 * - `{id}/erased`: the order was erased (`DELETE /orders/{id}`), written by the processing role
 *   together with tombstones for the order's steps; the notification role tombstones its mails. A
 *   reader forgets the order and ignores any fact of it read later (another partition may be read
 *   behind this one). It holds the id and a time, nothing personal.
 */
import { z } from "zod";
import {
  ORDER_STATES,
  type OrderErased,
  OrderErasedSchema,
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

/** `{id}/erased`: the order's personal data was erased. */
export const OrderErasedFactSchema = OrderErasedSchema;

/** A value of the status topic. */
export const OrderStatusFactSchema = z.discriminatedUnion("type", [
  OrderStepSchema,
  OrderMailSchema,
  OrderErasedFactSchema,
]);

/** An `OrderStep`, `OrderMail` or `OrderErased`. */
export type OrderStatusFact = z.infer<typeof OrderStatusFactSchema>;

/** The key of step `seq` of order `id`. */
export function stepKey(id: string, seq: number): string {
  return `${id}/step/${seq}`;
}

/** The key of the mail about `state` of order `id`. */
export function mailKey(id: string, state: string): string {
  return `${id}/mail/${state}`;
}

/** The key of the erasure marker of order `id`. */
export function erasedKey(id: string): string {
  return `${id}/erased`;
}

/**
 * What a key names, or null when it is not a status key.
 *
 * @example
 * ```ts
 * import { parseStatusKey } from "./order_status.ts";
 * parseStatusKey("o1/step/2"); // { id: "o1", kind: "step", part: "2" }
 * parseStatusKey("o1/erased"); // { id: "o1", kind: "erased", part: "" }
 * ```
 */
export function parseStatusKey(
  key: string,
): { id: string; kind: "step" | "mail" | "erased"; part: string } | null {
  const erased = /^(.+)\/erased$/.exec(key);
  if (erased !== null) return { id: erased[1]!, kind: "erased", part: "" };
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

/**
 * The status records of an erasure, written by the processing role when it meets `OrderErased` in
 * `order_processing`: the marker, and a tombstone for every step key the order may have.
 *
 * @param topic The status topic.
 * @param e The erasure as published on `order_processing`.
 */
export function erasedRecords(
  topic: string,
  e: OrderErased,
): ({ topic: string; key: string; value: string } | { topic: string; key: string; value: null })[] {
  return [
    ...ORDER_STATES.map((_, i) => ({ topic, key: stepKey(e.id, i + 1), value: null })),
    { topic, key: erasedKey(e.id), value: JSON.stringify(e) },
  ];
}

/**
 * Tombstones for every step key order `id` may have, written by the processing role again when a
 * transition of an erased order is read (one published in a race before the role knew).
 *
 * @param topic The status topic.
 * @param id The order.
 */
export function stepTombstones(
  topic: string,
  id: string,
): { topic: string; key: string; value: null }[] {
  return ORDER_STATES.map((_, i) => ({ topic, key: stepKey(id, i + 1), value: null }));
}

/**
 * Tombstones for every mail key order `id` may have, written by the notification role when it
 * meets `OrderErased` in `order_processing`.
 *
 * @param topic The status topic.
 * @param id The order.
 */
export function mailTombstones(
  topic: string,
  id: string,
): { topic: string; key: string; value: null }[] {
  return ORDER_STATES.map((state) => ({ topic, key: mailKey(id, state), value: null }));
}
