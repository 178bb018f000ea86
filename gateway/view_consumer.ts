/**
 * Feeds the gateway's in-memory read models from Kafka (today `purchase_analytics`; orders come
 * from the order store, `status_consumer.ts`): one reader over the topics it serves,
 * read_committed, from the beginning, committing nothing (every gateway instance sees everything). Records that do not
 * parse are logged and skipped here; the workers own dead letters.
 */
import type { InRecord, KafkaClient } from "../lib/kafka/mod.ts";
import type { Logger } from "../lib/log.ts";

/**
 * Handles one parsed JSON value of a topic (with the record it came in, for its headers); returns
 * false when it does not match its schema.
 */
export type RecordHandler = (json: unknown, record: InRecord) => boolean;

/** A running reader. */
export interface ViewConsumer {
  /** Resolves once it reads every partition (anything published afterwards will be seen). */
  started: Promise<void>;
  /** Whether it is reading. */
  ready(): boolean;
  stop(): Promise<void>;
}

/**
 * Starts reading `handlers`' topics; `started` says when it reads every partition.
 *
 * @param kafka The Kafka client.
 * @param handlers One handler per topic.
 * @param log Logger.
 */
export function startViewConsumer(
  kafka: KafkaClient,
  handlers: Readonly<Record<string, RecordHandler>>,
  log: Logger,
): ViewConsumer {
  const decoder = new TextDecoder();
  const reader = kafka.reader({
    topics: Object.keys(handlers),
    maxWaitMs: 50,
    onBatch: (batch) => {
      const handle = handlers[batch.topic];
      for (const record of batch.records) {
        let json: unknown;
        try {
          json = JSON.parse(record.value === null ? "" : decoder.decode(record.value));
        } catch {
          json = undefined;
        }
        if (handle === undefined || json === undefined || !handle(json, record)) {
          log.warn("skipping a record that does not parse", {
            topic: batch.topic,
            offset: record.offset,
          });
        }
      }
    },
  });
  return { started: reader.ready, ready: () => reader.running(), stop: () => reader.stop() };
}
