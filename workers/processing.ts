/**
 * `worker --role processing`: moves each order through recibido → preparando → entregando →
 * finalizado, publishing every transition to `order_processing` keyed by order id.
 *
 * It reads `order_requests` (new orders) and its own `order_processing` (transitions that still
 * owe a next step, `next.dueAt`), so a pending step survives any crash: it is a record in Kafka,
 * not a timer in memory. Each decision's transitions and the input offset commit in one Kafka
 * transaction (lib/transactional.ts).
 */
import type { OutRecord } from "../lib/kafka/mod.ts";
import { OrderRequestedSchema, OrderTransitionSchema } from "../lib/order.ts";
import { advanceOrder } from "../lib/processing.ts";
import { abortableSleep } from "../lib/retry.ts";
import { parseOrDeadLetter } from "./_parse.ts";
import { instanceId, onAbort, type RoleContext } from "./role.ts";

/**
 * Runs the processing role until `ctx.signal` aborts.
 *
 * @param ctx Configuration, logger, Kafka client and stop signal.
 */
export async function run({ config, log, kafka, signal }: RoleContext): Promise<void> {
  const requests = config.TOPIC_ORDER_REQUESTS;
  const processing = config.TOPIC_ORDER_PROCESSING;
  const dwell = config.STAGE_DWELL_MS;
  const loop = kafka.runTransactional({
    log,
    groupId: `${config.GROUP_ID_PREFIX}-processing`,
    transactionalId: `${config.GROUP_ID_PREFIX}-processing-${instanceId(config)}`,
    instanceId: `processing-${instanceId(config)}`,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    topics: [requests, processing],
    handle: async (batch, ctx) => {
      let out: OutRecord[] = [];
      let decidedUpTo: string | null = null;
      const flush = async () => {
        if (decidedUpTo !== null) await ctx.commit(out, decidedUpTo);
        out = [];
        decidedUpTo = null;
      };
      for (const record of batch.records) {
        const input = batch.topic === requests
          ? parseOrDeadLetter(record, OrderRequestedSchema, config.TOPIC_DEAD_LETTER, log)
          : parseOrDeadLetter(record, OrderTransitionSchema, config.TOPIC_DEAD_LETTER, log);
        if (!input.ok) {
          out.push(input.letter);
          decidedUpTo = record.offset;
          continue;
        }
        for (;;) {
          const decision = advanceOrder(input.value, new Date(), dwell);
          if (decision.kind === "wait") {
            // Commit what is decided before waiting: a wait never holds a transaction open.
            // Due times grow with offsets in a partition, so waiting on the head is no loss.
            await flush();
            if (!await waitUntil(decision.until, ctx.signal)) return;
            continue;
          }
          if (decision.kind === "emit") {
            for (const t of decision.transitions) {
              out.push({ topic: processing, key: t.id, value: JSON.stringify(t) });
            }
          }
          decidedUpTo = record.offset;
          break;
        }
      }
      await flush();
    },
  });
  onAbort(signal, () => void loop.stop());
  await loop.ready;
  log.info("processing orders", { dwellMs: dwell, topics: [requests, processing] });
  await loop.done;
}

/**
 * Sleeps until `until`; false when the partition is revoked or the role stops first. The loop
 * heartbeats while a handler runs and aborts `signal` when the partition is no longer ours.
 */
async function waitUntil(until: Date, signal: AbortSignal): Promise<boolean> {
  try {
    await abortableSleep(Math.max(0, until.getTime() - Date.now()), signal);
    return true;
  } catch {
    return false;
  }
}
