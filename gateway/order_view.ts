/**
 * The gateway's read model of orders: what `GET /orders/{id}` answers and what the event stream
 * sends, built from `order_processing` and `order_notifications`. Applying an event twice changes
 * nothing (transitions are deduplicated by order and `seq`), so redeliveries are harmless.
 */
import type { OrderInput, OrderNotified, OrderState, OrderTransition } from "../lib/order.ts";

/** One reached state. */
export interface HistoryEntry {
  state: OrderState;
  seq: number;
  at: string;
}

/** The outcome of one customer mail. */
export type NotificationEntry = Omit<OrderNotified, "v" | "type" | "id">;

/** An order as the gateway knows it. */
export interface OrderStatus {
  id: string;
  order: OrderInput;
  /** The latest state reached; `recibido` from the moment Kafka acknowledged the order. */
  state: OrderState;
  /** Reached states, in order, as the processing role published them. */
  history: HistoryEntry[];
  notifications: NotificationEntry[];
  /**
   * The trace the order belongs to (W3C trace id, 32 hex digits): the `POST`'s, as its records
   * carry it in their `traceparent`; null while unknown (records written without one).
   */
  traceId: string | null;
}

/** A change, as sent to subscribers of one order. */
export type OrderEvent =
  | { kind: "state"; entry: HistoryEntry }
  | { kind: "notification"; entry: NotificationEntry }
  /** The order's personal data was erased: nothing more will be told of it. */
  | { kind: "erased" };

/**
 * What the gateway's order routes read and tell: the in-memory {@linkcode OrderView} and the
 * on-disk `OrderStore` (gateway/order_store.ts) both answer it.
 */
export interface OrderReadModel {
  /** Records an order Kafka has acknowledged, before any transition arrives. */
  accept(id: string, order: OrderInput, traceId?: string | null): unknown;
  /** The order with `id`, if known. */
  get(id: string): OrderStatus | undefined;
  /** Up to `limit` orders, the most recently added first. */
  recent(limit: number): OrderStatus[];
  /** Calls `listener` with the order after every change of any order; returns the unsubscribe. */
  watch(listener: (status: OrderStatus) => void): () => void;
  /** Calls `listener` on every later change of order `id`; returns the unsubscribe. */
  subscribe(id: string, listener: (event: OrderEvent) => void): () => void;
  /**
   * Forgets order `id` for good (its erasure was requested): it answers as unknown from now on,
   * whatever is read of it later, and its subscribers are told `erased`.
   *
   * @returns Whether the order was known.
   */
  erase(id: string): boolean;
}

/**
 * Who listens to order changes, for a read model to tell: one order's events
 * ({@linkcode OrderReadModel.subscribe}) and every order's new status
 * ({@linkcode OrderReadModel.watch}). Shared by the in-memory view and the on-disk store.
 */
export class OrderChanges {
  #listeners = new Map<string, Set<(event: OrderEvent) => void>>();
  #watchers = new Set<(status: OrderStatus) => void>();

  /** Whether anybody watches every order (so a status need not be built for nobody). */
  get watched(): boolean {
    return this.#watchers.size > 0;
  }

  /** Whether a change of order `id` would be told to anybody. */
  heard(id: string): boolean {
    return this.#watchers.size > 0 || this.#listeners.has(id);
  }

  /** See {@linkcode OrderReadModel.watch}. */
  watch(listener: (status: OrderStatus) => void): () => void {
    this.#watchers.add(listener);
    return () => {
      this.#watchers.delete(listener);
    };
  }

  /** See {@linkcode OrderReadModel.subscribe}. */
  subscribe(id: string, listener: (event: OrderEvent) => void): () => void {
    let set = this.#listeners.get(id);
    if (set === undefined) this.#listeners.set(id, set = new Set());
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(id);
    };
  }

  /** Tells the listeners of order `id` of `event`. */
  tell(id: string, event: OrderEvent): void {
    for (const listener of this.#listeners.get(id) ?? []) listener(event);
  }

  /** Tells every watcher of the order's new status. */
  tellAll(status: OrderStatus): void {
    for (const watcher of this.#watchers) watcher(status);
  }
}

/** Options of {@linkcode OrderView}. */
export interface OrderViewOptions {
  /** Orders kept; the oldest known is forgotten past this. @default 100000 */
  maxOrders?: number;
}

/** An in-memory, bounded read model of orders. */
export class OrderView implements OrderReadModel {
  #orders = new Map<string, OrderStatus>();
  #erased = new Set<string>();
  #changes = new OrderChanges();
  #max: number;

  /** @param options Bound on the number of orders kept. */
  constructor(options: OrderViewOptions = {}) {
    this.#max = options.maxOrders ?? 100_000;
  }

  /** Orders currently known. */
  get size(): number {
    return this.#orders.size;
  }

  /**
   * Records an order Kafka has acknowledged, before any transition arrives.
   *
   * @param id The order id.
   * @param order Its fields.
   * @param traceId The trace of the request that placed it.
   */
  accept(id: string, order: OrderInput, traceId: string | null = null): OrderStatus | undefined {
    if (this.#erased.has(id)) return undefined;
    const known = this.#orders.has(id);
    const status = this.#entry(id, order);
    status.traceId ??= traceId;
    if (!known) this.#changes.tellAll(status);
    return status;
  }

  /**
   * Applies one transition; a repeat (same order and `seq`) is ignored.
   *
   * @param t The transition.
   * @param traceId The trace id its record carries, kept when the order has none yet.
   * @returns Whether the view changed.
   */
  applyTransition(t: OrderTransition, traceId: string | null = null): boolean {
    if (this.#erased.has(t.id)) return false;
    const status = this.#entry(t.id, t.order);
    status.traceId ??= traceId;
    if (status.history.some((h) => h.seq === t.seq)) return false;
    const entry = { state: t.state, seq: t.seq, at: t.at };
    status.history.push(entry);
    status.history.sort((a, b) => a.seq - b.seq);
    status.state = status.history[status.history.length - 1]!.state;
    this.#changes.tell(t.id, { kind: "state", entry });
    this.#changes.tellAll(status);
    return true;
  }

  /**
   * Applies one notification outcome; a repeat (same order and state) replaces the earlier one.
   *
   * @returns Whether the view changed (false when the order is unknown).
   */
  applyNotification(n: OrderNotified): boolean {
    const status = this.#orders.get(n.id);
    if (status === undefined) return false;
    const { v: _v, type: _type, id: _id, ...entry } = n;
    const i = status.notifications.findIndex((x) => x.state === n.state);
    if (i >= 0) status.notifications[i] = entry;
    else status.notifications.push(entry);
    this.#changes.tell(n.id, { kind: "notification", entry });
    this.#changes.tellAll(status);
    return true;
  }

  /** The order with `id`, if known. */
  get(id: string): OrderStatus | undefined {
    return this.#orders.get(id);
  }

  /**
   * The orders the view learnt of last, newest first.
   *
   * @param limit How many at most.
   * @returns Up to `limit` orders, the most recently added first.
   */
  recent(limit: number): OrderStatus[] {
    const out: OrderStatus[] = [];
    if (limit <= 0) return out;
    const all = [...this.#orders.values()];
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) out.push(all[i]!);
    return out;
  }

  /**
   * Calls `listener` with the order after every change of any order: a new order, a new state,
   * a notification outcome. A repeat that changes nothing is not reported.
   *
   * @returns A function that ends the subscription.
   */
  watch(listener: (status: OrderStatus) => void): () => void {
    return this.#changes.watch(listener);
  }

  /**
   * Calls `listener` on every later change of order `id`.
   *
   * @returns A function that ends the subscription.
   */
  subscribe(id: string, listener: (event: OrderEvent) => void): () => void {
    return this.#changes.subscribe(id, listener);
  }

  /**
   * Forgets order `id` for good; later transitions and outcomes of it change nothing.
   *
   * @returns Whether the order was known.
   */
  erase(id: string): boolean {
    const known = this.#orders.delete(id);
    this.#erased.add(id);
    this.#changes.tell(id, { kind: "erased" });
    return known;
  }

  #entry(id: string, order: OrderInput): OrderStatus {
    let status = this.#orders.get(id);
    if (status === undefined) {
      status = { id, order, state: "recibido", history: [], notifications: [], traceId: null };
      this.#orders.set(id, status);
      if (this.#orders.size > this.#max) {
        const oldest = this.#orders.keys().next().value;
        if (oldest !== undefined) this.#orders.delete(oldest);
      }
    }
    return status;
  }
}
