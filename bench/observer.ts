/**
 * Watches the pipeline from outside: a read_committed consumer of `order_processing` and
 * `order_notifications` that records when each order's states and notifications were seen.
 */
import type { KafkaClient } from "../lib/kafka/mod.ts";
import type { OrderState } from "../lib/order.ts";

/** When each state and each notification of an order were seen (ms since the epoch). */
export interface Seen {
  states: Partial<Record<OrderState, number>>;
  notified: Partial<Record<OrderState, number>>;
  /** Transitions seen more than once (a duplicate would show here). */
  duplicates: number;
}

/** A running observer. */
export interface Observer {
  seen: Map<string, Seen>;
  stop(): Promise<void>;
}

/**
 * Starts observing; resolves once the reader has its partitions, so nothing published later is
 * missed.
 *
 * @param kafka The Kafka client.
 * @param topics The transitions and notifications topics.
 */
export async function startObserver(
  kafka: KafkaClient,
  topics: { processing: string; notifications: string },
): Promise<Observer> {
  const seen = new Map<string, Seen>();
  const entry = (id: string) => {
    let s = seen.get(id);
    if (s === undefined) seen.set(id, s = { states: {}, notified: {}, duplicates: 0 });
    return s;
  };
  const decoder = new TextDecoder();
  const reader = kafka.reader({
    topics: [topics.processing, topics.notifications],
    maxWaitMs: 5,
    onBatch: (batch) => {
      const now = Date.now();
      const isState = batch.topic === topics.processing;
      for (const r of batch.records) {
        const v = JSON.parse(r.value === null ? "{}" : decoder.decode(r.value)) as {
          type?: string;
          id: string;
          state: OrderState;
        };
        // An erased order's marker in order_processing is no state (bench runs erase nothing).
        if (v.type === "OrderErased") continue;
        const s = entry(v.id);
        const book = isState ? s.states : s.notified;
        if (book[v.state] !== undefined) {
          if (isState) s.duplicates++;
          continue;
        }
        book[v.state] = now;
      }
    },
  });
  await reader.ready;
  return { seen, stop: () => reader.stop() };
}
