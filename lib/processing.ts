/**
 * The processing role's decision, pure: given what it read (a new order, or a transition that
 * still owes a next step) and the clock, which transitions to publish now and how long to wait;
 * and what an erasure asks of it ({@linkcode eraseFirst}).
 */
import type { Outgoing } from "./kafka/records.ts";
import {
  nextState,
  ORDER_STATES,
  type OrderErased,
  type OrderErasureRequested,
  type OrderRequested,
  type OrderState,
  type OrderTransition,
  transitionTo,
} from "./order.ts";
import { erasedRecords, stepTombstones } from "./order_status.ts";

/** Milliseconds spent in recibido, preparando and entregando before moving on. */
export type Dwell = readonly [number, number, number];

/** What {@linkcode advanceOrder} decided. */
export type Advance =
  /** Publish these transitions (in order), in one transaction with the input's offset. */
  | { kind: "emit"; transitions: OrderTransition[] }
  /** Nothing is due yet: come back at `until`. */
  | { kind: "wait"; until: Date }
  /** Nothing is owed for this record (finalized, or its successor was already published). */
  | { kind: "none" };

/**
 * Decides the next transitions of one order.
 *
 * A new order enters `recibido`; every further transition already due (all of them with dwell 0)
 * is chained in the same decision, so one transaction carries it. The last transition published
 * carries `next` (the step still owed and when), earlier ones `next: null` — so exactly one record
 * per order drives the next step.
 *
 * @param input An `OrderRequested`, or an `OrderTransition` read back from `order_processing`.
 * @param now The clock.
 * @param dwell Milliseconds in recibido, preparando and entregando.
 * @returns What to publish, or how long to wait, or nothing.
 * @throws {IllegalTransitionError} Only on a corrupt input whose `next` breaks the table.
 *
 * @example
 * ```ts
 * import { advanceOrder } from "./processing.ts";
 * const order = { name: "Pizza", price: 12990, email: "a@b.cl" };
 * const input = { v: 1, type: "OrderRequested", id: "o1", order, requestedAt: "2026-01-01T00:00:00.000Z" } as const;
 * const decision = advanceOrder(input, new Date("2026-01-01T00:00:00.010Z"), [0, 0, 0]);
 * // decision.kind === "emit", four transitions, the last one `finalizado` with `next: null`
 * ```
 */
export function advanceOrder(
  input: OrderRequested | OrderTransition,
  now: Date,
  dwell: Dwell,
): Advance {
  let from: OrderState | null;
  let to: OrderState;
  let at: Date;
  if (input.type === "OrderRequested") {
    from = null;
    to = "recibido";
    at = now;
  } else {
    if (input.next === null) return { kind: "none" };
    const due = new Date(input.next.dueAt);
    if (due > now) return { kind: "wait", until: due };
    from = input.state;
    to = input.next.state;
    // The transition happens when it was due, not when a busy or restarted worker got to it,
    // so later dwell times are not stretched by a backlog.
    at = due;
  }
  const transitions: OrderTransition[] = [];
  for (;;) {
    const state = transitionTo(from, to);
    const seq = ORDER_STATES.indexOf(state) + 1;
    const following = nextState(state);
    const dueAt = following === null ? null : new Date(at.getTime() + dwell[seq - 1]!);
    const transition: OrderTransition = {
      v: 1,
      type: "OrderTransition",
      id: input.id,
      order: input.order,
      state,
      seq,
      at: at.toISOString(),
      requestedAt: input.requestedAt,
      next: following === null || dueAt === null
        ? null
        : { state: following, dueAt: dueAt.toISOString() },
    };
    transitions.push(transition);
    if (following === null || dueAt === null || dueAt > now) break;
    // Due already: publish it in this same decision, and leave `next` only on the last one.
    transition.next = null;
    from = state;
    to = following;
    at = dueAt;
  }
  return { kind: "emit", transitions };
}

/**
 * Order ids one partition remembers at most (about 1 GiB of them): a JavaScript `Map` holds 2^24
 * (about 16.7 million) and throws past that, which a long `ORDER_DEDUPE_WINDOW_MS` at a high rate
 * would reach (30 days at 6.5 orders/s on one partition).
 */
export const MAX_TAKEN_IDS = 10_000_000;

/**
 * The orders one partition of `order_requests` has already taken, within a time window: a second
 * request record for one of them (a retry after a 503 that had been written after all, or the
 * same `Idempotency-Key` on another gateway) is a duplicate, not a second order.
 *
 * The knowledge lives in Kafka, not here: after any (re)assignment the set is rebuilt by reading
 * the partition from `windowMs` ago up to the group's committed offset (every record before that
 * offset was taken, refused or found a duplicate).
 */
export class TakenOrders {
  /** Order id → when its request was written (ms); insertion order is time order. */
  #ids = new Map<string, number>();
  #windowMs: number;
  #maxIds: number;
  #onFull: () => void;
  #forgottenEarly = 0;

  /**
   * @param windowMs How long a taken id is remembered.
   * @param options `maxIds`: ids remembered at most (default {@linkcode MAX_TAKEN_IDS}); past it the
   * oldest is forgotten before its window ends, and `onFull` is called the first time.
   */
  constructor(windowMs: number, options: { maxIds?: number; onFull?: () => void } = {}) {
    if (!Number.isInteger(windowMs) || windowMs < 1) {
      throw new RangeError(
        `Cannot remember taken orders: windowMs must be a whole number >= 1: current value is ${windowMs}`,
      );
    }
    this.#windowMs = windowMs;
    this.#maxIds = options.maxIds ?? MAX_TAKEN_IDS;
    this.#onFull = options.onFull ?? (() => {});
  }

  /** Ids forgotten before their window ended, for want of room. */
  get forgottenEarly(): number {
    return this.#forgottenEarly;
  }

  /** Ids remembered now. */
  get size(): number {
    return this.#ids.size;
  }

  /**
   * Takes order `id`, requested at `at` (ms since the epoch).
   *
   * @returns false when it was already taken within the window: a duplicate.
   */
  take(id: string, at: number): boolean {
    this.#forgetBefore(at - this.#windowMs);
    if (this.#ids.has(id)) return false;
    if (this.#ids.size >= this.#maxIds) {
      this.#ids.delete(this.#ids.keys().next().value!);
      if (this.#forgottenEarly++ === 0) this.#onFull();
    }
    this.#ids.set(id, at);
    return true;
  }

  #forgetBefore(limit: number): void {
    for (const [id, at] of this.#ids) {
      if (at >= limit) break;
      this.#ids.delete(id);
    }
  }
}

/** What the processing role reads: from `order_requests`, `order_processing`, `order_erasures`. */
export type ProcessingInput =
  | OrderRequested
  | OrderTransition
  | OrderErased
  | OrderErasureRequested;

/** What {@linkcode eraseFirst} decided. */
export type ErasureStep =
  /** The order is not erased: decide with {@linkcode advanceOrder} as usual. */
  | { kind: "advance"; input: OrderRequested | OrderTransition }
  /** Publish `records` (maybe none) instead of any transition; `erased` is now known erased. */
  | { kind: "erase"; records: Outgoing[]; erased: string };

/**
 * What an erasure asks of the processing role, before any transition is decided: the order is
 * cancelled where it stood.
 *
 * - `OrderErasureRequested` (from `order_erasures`): publish `OrderErased` to `order_processing`,
 *   keyed by the order id, so in the order's partition it sits after every transition published
 *   before it. Always, also when the id is known already (the role's follower of the topic may
 *   have added it first).
 * - `OrderErased` (read back from `order_processing`): the status topic's step tombstones and the
 *   `{id}/erased` marker.
 * - A transition of an erased order: no successor; the step tombstones again (a step published in
 *   a race, by an instance that did not know yet, is erased after it).
 * - A request of an erased order: nothing.
 *
 * @param input The record read.
 * @param erased Whether an order is known erased.
 * @param now The clock (the `at` of `OrderErased`).
 * @param topics The `order_processing` and status topics.
 * @returns The input to advance, or what to publish instead.
 *
 * @example
 * ```ts
 * import { eraseFirst } from "./processing.ts";
 * const request = { v: 1, type: "OrderErasureRequested", id: "o1", requestedAt: "2026-01-01T00:00:00.000Z" } as const;
 * const step = eraseFirst(request, () => false, new Date(), { processing: "order_processing", status: "order_status" });
 * // step.kind === "erase": one `OrderErased` record for order_processing
 * ```
 */
export function eraseFirst(
  input: ProcessingInput,
  erased: (id: string) => boolean,
  now: Date,
  topics: { processing: string; status: string },
): ErasureStep {
  const id = input.id;
  switch (input.type) {
    case "OrderErasureRequested": {
      const e: OrderErased = { v: 1, type: "OrderErased", id, at: now.toISOString() };
      return {
        kind: "erase",
        records: [{ topic: topics.processing, key: id, value: JSON.stringify(e) }],
        erased: id,
      };
    }
    case "OrderErased":
      return { kind: "erase", records: erasedRecords(topics.status, input), erased: id };
    case "OrderTransition":
      return erased(id)
        ? { kind: "erase", records: stepTombstones(topics.status, id), erased: id }
        : { kind: "advance", input };
    case "OrderRequested":
      return erased(id) ? { kind: "erase", records: [], erased: id } : { kind: "advance", input };
  }
}
