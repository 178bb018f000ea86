/**
 * Feeds the gateway's read models from Kafka: one consumer over the topics it serves
 * (`order_processing`, `order_notifications`, `purchase_analytics`), read_committed, from the
 * beginning, in a consumer group of its own (every gateway instance sees everything), committing
 * nothing. Records that do not parse are logged and skipped here; the workers own dead letters.
 */
import type { Consumer, Kafka } from "kafkajs";
import type { Logger } from "../lib/log.ts";

/** Handles one parsed JSON value of a topic; returns false when it does not match its schema. */
export type RecordHandler = (json: unknown) => boolean;

/** A running reader. */
export interface ViewConsumer {
  /** Whether it has joined and is reading. */
  ready(): boolean;
  stop(): Promise<void>;
}

/**
 * Starts reading `handlers`' topics.
 *
 * @param kafka The client.
 * @param handlers One handler per topic.
 * @param log Logger.
 */
export async function startViewConsumer(
  kafka: Kafka,
  handlers: Readonly<Record<string, RecordHandler>>,
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
  await consumer.subscribe({ topics: Object.keys(handlers), fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: ({ batch }) => {
      const handle = handlers[batch.topic];
      for (const message of batch.messages) {
        let json: unknown;
        try {
          json = JSON.parse(message.value?.toString() ?? "");
        } catch {
          json = undefined;
        }
        if (handle === undefined || json === undefined || !handle(json)) {
          log.warn("skipping a record that does not parse", {
            topic: batch.topic,
            offset: message.offset,
          });
        }
      }
      return Promise.resolve();
    },
  });
  return {
    ready: () => joined,
    stop: () => consumer.disconnect(),
  };
}
