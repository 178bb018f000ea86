/**
 * The one-time backfill of the status topic: orders placed before `order_status` existed are
 * brought in from `order_processing` (their steps) and `order_notifications` (their mails). Each
 * record read becomes the status record its role writes today, so a backfill that overlaps with
 * the running roles writes the same facts again: harmless, compaction keeps one per key.
 *
 * It never brings an erased order back: its records become no fact, and its `OrderErased` (in
 * `order_processing`) becomes the `{id}/erased` marker again.
 */
import { type InRecord, type OutRecord, parseRecord } from "./kafka/records.ts";
import { OrderNotifiedSchema, OrderProcessingEventSchema } from "./order.ts";
import { erasedKey, mailRecord, stepRecord } from "./order_status.ts";
import { traceIdOf, TRACEPARENT } from "./tracing.ts";

/** Which source topic a record comes from. */
export type BackfillSource = "transitions" | "notifications";

/**
 * The status record for one record of a source topic.
 *
 * @param statusTopic The status topic.
 * @param source What the record is: a transition or a mail outcome.
 * @param record The record read.
 * @param erased Whether an order was erased (the ids of `order_erasures`). @default none
 * @returns The record to write, or null when the source record does not parse (the roles set
 * those aside already) or is of an erased order.
 *
 * @example
 * ```ts
 * import { backfillRecord } from "./status_backfill.ts";
 * const value = new TextEncoder().encode("not json");
 * const record = { topic: "t", partition: 0, offset: "0", key: "o1", value, headers: {}, timestamp: 0 };
 * backfillRecord("order_status", "transitions", record); // null
 * ```
 */
export function backfillRecord(
  statusTopic: string,
  source: BackfillSource,
  record: InRecord,
  erased: (id: string) => boolean = () => false,
): OutRecord | null {
  if (source === "transitions") {
    const t = parseRecord(record.value, OrderProcessingEventSchema);
    if (!t.ok) return null;
    if (t.value.type === "OrderErased") {
      return { topic: statusTopic, key: erasedKey(t.value.id), value: JSON.stringify(t.value) };
    }
    if (erased(t.value.id)) return null;
    return stepRecord(statusTopic, t.value, traceIdOf(record.headers[TRACEPARENT]));
  }
  const n = parseRecord(record.value, OrderNotifiedSchema);
  return n.ok && !erased(n.value.id) ? mailRecord(statusTopic, n.value) : null;
}
