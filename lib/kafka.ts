/**
 * The Kafka client setup shared by the gateway and the workers (npm `kafkajs`).
 */
import { Kafka, logLevel, type Producer } from "kafkajs";
import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";

/** A record to publish: topic, key and a UTF-8 value, with optional string headers. */
export interface OutRecord {
  topic: string;
  key: string;
  value: string;
  headers?: Record<string, string>;
}

const KAFKAJS_LEVEL: Record<number, "debug" | "info" | "warn" | "error"> = {
  [logLevel.DEBUG]: "debug",
  [logLevel.INFO]: "info",
  [logLevel.WARN]: "warn",
  [logLevel.ERROR]: "warn", // kafkajs logs retriable broker errors as ERROR; our retries decide.
};

/**
 * Creates a kafkajs client for `config.KAFKA_BROKERS`, logging through `log`.
 *
 * @param config Brokers and client id.
 * @param log Receives kafkajs's entries under the `kafka` namespace.
 * @returns An unconnected client.
 */
export function createKafka(
  config: Pick<Config, "KAFKA_BROKERS" | "KAFKA_CLIENT_ID">,
  log: Logger,
): Kafka {
  const klog = log.child("kafka");
  return new Kafka({
    clientId: config.KAFKA_CLIENT_ID,
    brokers: [...config.KAFKA_BROKERS],
    connectionTimeout: 3000,
    requestTimeout: 10000,
    logLevel: logLevel.WARN,
    logCreator: () => ({ level, log: entry }) => {
      const { message, timestamp: _t, logger: _l, ...rest } = entry;
      klog[KAFKAJS_LEVEL[level] ?? "info"](message, rest);
    },
  });
}

/** Bytes of record values per produce request at most: under the broker's default 1 MiB batch limit. */
const MAX_REQUEST_BYTES = 512 * 1024;

/**
 * Sends records with kafkajs (acks=all), grouped by topic, in as many requests as it takes to keep
 * each under {@linkcode MAX_REQUEST_BYTES} (a larger batch would be refused by the broker as too
 * large, and a transaction that always fails would stall its role).
 *
 * @param producer A connected producer, or an open transaction.
 * @param records The records, each with its own topic.
 */
export async function sendRecords(
  producer: Pick<Producer, "sendBatch">,
  records: readonly OutRecord[],
): Promise<void> {
  let chunk: OutRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    const size = r.value.length + r.key.length + 64;
    if (chunk.length > 0 && bytes + size > MAX_REQUEST_BYTES) {
      await sendChunk(producer, chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(r);
    bytes += size;
  }
  if (chunk.length > 0) await sendChunk(producer, chunk);
}

async function sendChunk(
  producer: Pick<Producer, "sendBatch">,
  records: readonly OutRecord[],
): Promise<void> {
  const byTopic = new Map<
    string,
    { key: string; value: string; headers?: Record<string, string> }[]
  >();
  for (const r of records) {
    let list = byTopic.get(r.topic);
    if (list === undefined) byTopic.set(r.topic, list = []);
    list.push(
      r.headers === undefined
        ? { key: r.key, value: r.value }
        : { key: r.key, value: r.value, headers: r.headers },
    );
  }
  await producer.sendBatch({
    acks: -1,
    topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
  });
}

/** Where an unparseable record came from, and why it was set aside. */
export interface DeadLetter {
  v: 1;
  type: "DeadLetter";
  source: { topic: string; partition: number; offset: string };
  key: string | null;
  /** The original value as text (lossy for non-UTF-8 bytes), so a person can read it. */
  value: string | null;
  reason: string;
  at: string;
}

/**
 * Builds the dead-letter record for an input that could not be parsed. Keyed by its source
 * position, so a redelivered copy lands beside the first.
 *
 * @param topic The dead-letter topic.
 * @param source Where the bad record was read.
 * @param reason Why it was refused, one sentence.
 * @param now The clock.
 * @returns The record to publish in the same transaction as the input's offset.
 */
export function deadLetterRecord(
  topic: string,
  source: {
    topic: string;
    partition: number;
    offset: string;
    key: Uint8Array | null;
    value: Uint8Array | null;
  },
  reason: string,
  now: Date = new Date(),
): OutRecord {
  const text = (b: Uint8Array | null) => b === null ? null : new TextDecoder().decode(b);
  const letter: DeadLetter = {
    v: 1,
    type: "DeadLetter",
    source: { topic: source.topic, partition: source.partition, offset: source.offset },
    key: text(source.key),
    value: text(source.value),
    reason,
    at: now.toISOString(),
  };
  return {
    topic,
    key: `${source.topic}/${source.partition}/${source.offset}`,
    value: JSON.stringify(letter),
  };
}
