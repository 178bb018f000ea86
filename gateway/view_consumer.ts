/**
 * Feeds the gateway's in-memory read models from Kafka (today `purchase_analytics`; orders come
 * from the order store, `status_consumer.ts`): one reader over the topics it serves,
 * read_committed, from the beginning, committing nothing (every gateway instance sees everything). Records that do not
 * parse are logged and skipped here; the workers own dead letters.
 */
import type { z } from "zod";
import { type InRecord, type KafkaClient, parseRecord } from "../lib/kafka/mod.ts";
import type { Logger } from "../lib/log.ts";

/** Handles one record of a topic; returns false when it does not parse. */
export type RecordHandler = (record: InRecord) => boolean;

/**
 * A handler that decodes each record as the workers do ({@linkcode parseRecord}: JSON, then
 * `schema`) and gives the value to `use`, with the record it came in (for its headers).
 *
 * @param schema The wire schema of the topic's records.
 * @param use Receives each value that parses.
 * @returns The topic's handler.
 */
export function parsedWith<T>(
  schema: z.ZodType<T>,
  use: (value: T, record: InRecord) => void,
): RecordHandler {
  return function handleParsed(record) {
    const parsed = parseRecord(record.value, schema);
    if (parsed.ok) use(parsed.value, record);
    return parsed.ok;
  };
}

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
 * @param handlers One handler per topic (see {@linkcode parsedWith}).
 * @param log Logger.
 */
export function startViewConsumer(
  kafka: KafkaClient,
  handlers: Readonly<Record<string, RecordHandler>>,
  log: Logger,
): ViewConsumer {
  const reader = kafka.reader({
    topics: Object.keys(handlers),
    maxWaitMs: 50,
    onBatch: (batch) => {
      const handle = handlers[batch.topic];
      for (const record of batch.records) {
        if (handle === undefined || !handle(record)) {
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
