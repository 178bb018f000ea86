/**
 * Watches the pipeline from outside: a read_committed consumer of `order_processing` and
 * `order_notifications` that records when each order's states and notifications were seen.
 */
import { Kafka, logLevel } from "kafkajs";
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
 * Starts observing; resolves once the consumer has joined, so nothing published later is missed.
 */
export async function startObserver(
  brokers: string,
  topics: { processing: string; notifications: string },
): Promise<Observer> {
  const kafka = new Kafka({
    clientId: "bench-observer",
    brokers: brokers.split(","),
    logLevel: logLevel.NOTHING,
  });
  const consumer = kafka.consumer({
    groupId: `bench-observer-${crypto.randomUUID()}`,
    readUncommitted: false,
    maxWaitTimeInMs: 5,
  });
  const seen = new Map<string, Seen>();
  const entry = (id: string) => {
    let s = seen.get(id);
    if (s === undefined) seen.set(id, s = { states: {}, notified: {}, duplicates: 0 });
    return s;
  };
  await consumer.connect();
  await consumer.subscribe({
    topics: [topics.processing, topics.notifications],
    fromBeginning: true,
  });
  const joined = new Promise<void>((r) => consumer.on(consumer.events.GROUP_JOIN, () => r()));
  await consumer.run({
    autoCommit: false,
    eachBatch: ({ batch }) => {
      const now = Date.now();
      const isState = batch.topic === topics.processing;
      for (const m of batch.messages) {
        const v = JSON.parse(m.value?.toString() ?? "{}") as { id: string; state: OrderState };
        const s = entry(v.id);
        const book = isState ? s.states : s.notified;
        if (book[v.state] !== undefined) {
          if (isState) s.duplicates++;
          continue;
        }
        book[v.state] = now;
      }
      return Promise.resolve();
    },
  });
  await joined;
  return {
    seen,
    stop: () => consumer.disconnect(),
  };
}
