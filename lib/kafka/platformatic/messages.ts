/** Records as the `@platformatic/kafka` producer takes them. */
import type { Outgoing } from "../records.ts";

/** Records as the library's producer takes them. */
export function toMessages(records: readonly Outgoing[]) {
  return records.map((r) => ({
    topic: r.topic,
    key: r.key,
    // A tombstone's null: the library's string serializer writes no value for a non-string.
    value: r.value as string,
    ...(r.headers === undefined ? {} : { headers: r.headers }),
    // Taken modulo the partition count the producer's own metadata holds: the idempotent
    // producer makes sure its metadata lists it first (ensureKnownPartitions).
    ...("partition" in r && r.partition !== undefined ? { partition: r.partition } : {}),
  }));
}
