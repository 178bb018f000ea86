/**
 * What the `@platformatic/kafka` seam's files share: the client options every client object gets,
 * which errors mean an instance was fenced, partition keys, and records as the library's messages.
 */
import type { ErrorKind, TopicPartition } from "./client.ts";
import { hasKafkaError } from "./platformatic_fetch.ts";
import type { OutRecord } from "./records.ts";

/** The options every library client object is created with. */
export type Base = { clientId: string; bootstrapBrokers: string[] };

/** Kafka errors after which an instance must not go on: another took its identity. */
const FATAL = [
  "PRODUCER_FENCED",
  "INVALID_PRODUCER_EPOCH",
  "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
  "FENCED_INSTANCE_ID",
];

/** Whether a platformatic error means this instance was fenced. */
export function classify(error: unknown): ErrorKind {
  return hasKafkaError(error, ...FATAL) ? "fatal" : "retriable";
}

/** A partition's map key: `topic/partition`. */
export const key = (tp: TopicPartition): string => `${tp.topic}/${tp.partition}`;

/** Records as the library's producer takes them. */
export function toMessages(records: readonly OutRecord[]) {
  return records.map((r) => ({
    topic: r.topic,
    key: r.key,
    value: r.value,
    ...(r.headers === undefined ? {} : { headers: r.headers }),
  }));
}
