/**
 * Feeds the gateway's {@linkcode OrderView} from `order_processing` and `order_notifications`:
 * read_committed, from the beginning, in a consumer group of its own (every gateway instance sees
 * every order), committing nothing.
 */
import type { Consumer, Kafka } from "kafkajs";
import type { Logger } from "../lib/log.ts";
import { OrderNotifiedSchema, OrderTransitionSchema } from "../lib/order.ts";
import type { OrderView } from "../lib/order_view.ts";

/** A running view consumer. */
export interface ViewConsumer {
  /** Whether it has joined and is reading. */
  ready(): boolean;
  stop(): Promise<void>;
}

/**
 * Starts reading the order topics into `view`.
 *
 * @param kafka The client.
 * @param topics The transition and notification topics.
 * @param view Where events go.
 * @param log Logger; records that do not parse are logged and skipped (the workers dead-letter them).
 */
export async function startViewConsumer(
  kafka: Kafka,
  topics: { processing: string; notifications: string },
  view: OrderView,
  log: Logger,
): Promise<ViewConsumer> {
  const consumer: Consumer = kafka.consumer({
    groupId: `despacho-gateway-view-${crypto.randomUUID()}`,
    readUncommitted: false,
    maxWaitTimeInMs: 50,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
  });
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
  consumer.on(consumer.events.CRASH, () => (joined = false));
  await consumer.connect();
  await consumer.subscribe({
    topics: [topics.processing, topics.notifications],
    fromBeginning: true,
  });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      const isTransition = batch.topic === topics.processing;
      for (const message of batch.messages) {
        let json: unknown;
        try {
          json = JSON.parse(message.value?.toString() ?? "");
        } catch {
          log.warn("skipping a record that is not JSON", {
            topic: batch.topic,
            offset: message.offset,
          });
          continue;
        }
        if (isTransition) {
          const parsed = OrderTransitionSchema.safeParse(json);
          if (parsed.success) view.applyTransition(parsed.data);
          else {log.warn("skipping a record that does not match its schema", {
              topic: batch.topic,
              offset: message.offset,
            });}
        } else {
          const parsed = OrderNotifiedSchema.safeParse(json);
          if (parsed.success) view.applyNotification(parsed.data);
          else {log.warn("skipping a record that does not match its schema", {
              topic: batch.topic,
              offset: message.offset,
            });}
        }
      }
      await Promise.resolve();
    },
  });
  return {
    ready: () => joined,
    stop: () => consumer.disconnect(),
  };
}
