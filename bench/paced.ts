/**
 * Purchase events published at a steady rate, each one's publication time kept: how the
 * purchase-analytics benches (`purchases.ts`, `spark.ts`) time publication → notification.
 */
import type { PurchaseEvent } from "../lib/purchase.ts";
import type { KafkaProducer } from "../lib/kafka/mod.ts";

/**
 * Publishes `events` to `topic` at `rate` per second, in chunks of about 10 ms, on a schedule
 * counted from the start (a late send is not followed by a pause).
 *
 * @param producer A connected producer.
 * @param topic Where the events go, keyed by id.
 * @param events In the order to publish.
 * @param rate Events per second.
 * @param sentAt Filled with each event id's publication time (`Date.now()`), set before its send.
 */
export async function publishAtRate(
  producer: KafkaProducer,
  topic: string,
  events: readonly PurchaseEvent[],
  rate: number,
  sentAt: Map<string, number>,
): Promise<void> {
  const t0 = Date.now();
  const chunk = Math.max(1, Math.round(rate / 100));
  for (let i = 0; i < events.length; i += chunk) {
    const wait = t0 + (i * 1000) / rate - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const batch = events.slice(i, i + chunk);
    const at = Date.now();
    for (const e of batch) sentAt.set(e.id, at);
    await producer.send(batch.map((e) => ({ topic, key: e.id, value: JSON.stringify(e) })));
  }
}
