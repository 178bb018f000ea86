/**
 * `worker --role notification`: for every transition in `order_processing`, mails the customer
 * (one subject and body per state, a Message-ID fixed per order and state) and publishes the
 * outcome to `order_notifications` in the same transaction as the input offset.
 *
 * Mail is at-least-once: a crash after the SMTP server accepted a mail but before the transaction
 * committed sends it again, with the same Message-ID. The outcome record is exactly once.
 */
import { lastOffset, type OutRecord } from "../lib/kafka/mod.ts";
import { orderMail } from "../lib/notification.ts";
import { type OrderNotified, type OrderTransition, OrderTransitionSchema } from "../lib/order.ts";
import { retry } from "../lib/retry.ts";
import { parseOrDeadLetter } from "./_parse.ts";
import { createMailer, type Mailer } from "./mailer.ts";
import { instanceId, onAbort, type RoleContext } from "./role.ts";

/** Orders mailed at once within a batch; an order's own mails go one after another. */
const CONCURRENCY = 16;

/**
 * Runs the notification role until `ctx.signal` aborts.
 *
 * @param ctx Configuration, logger, Kafka client and stop signal.
 */
export async function run({ config, log, kafka, signal }: RoleContext): Promise<void> {
  const mailer = await createMailer(config, log);
  const loop = kafka.runTransactional({
    log,
    groupId: `${config.GROUP_ID_PREFIX}-notification`,
    transactionalId: `${config.GROUP_ID_PREFIX}-notification-${instanceId(config)}`,
    instanceId: `notification-${instanceId(config)}`,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    topics: [config.TOPIC_ORDER_PROCESSING],
    handle: async (batch, ctx) => {
      const out: (OutRecord | null)[] = new Array(batch.records.length).fill(null);
      const byOrder = new Map<string, { index: number; transition: OrderTransition }[]>();
      batch.records.forEach((record, index) => {
        const parsed = parseOrDeadLetter(
          record,
          OrderTransitionSchema,
          config.TOPIC_DEAD_LETTER,
          log,
        );
        if (!parsed.ok) {
          out[index] = parsed.letter;
          return;
        }
        const list = byOrder.get(parsed.value.id) ?? [];
        byOrder.set(parsed.value.id, list);
        list.push({ index, transition: parsed.value });
      });
      const queues = [...byOrder.values()];
      const workers = Array.from({ length: Math.min(CONCURRENCY, queues.length) }, async () => {
        for (let q = queues.shift(); q !== undefined; q = queues.shift()) {
          for (const { index, transition } of q) {
            const outcome = await notify(
              transition,
              mailer,
              config.SMTP_MAX_ATTEMPTS,
              ctx.signal,
              log,
            );
            out[index] = {
              topic: config.TOPIC_ORDER_NOTIFICATIONS,
              key: outcome.id,
              value: JSON.stringify(outcome),
            };
          }
        }
      });
      await Promise.all(workers);
      if (ctx.signal.aborted) return;
      await ctx.commit(out.filter((r): r is OutRecord => r !== null), lastOffset(batch));
    },
  });
  onAbort(signal, () => void loop.stop());
  try {
    await loop.ready;
    log.info("notifying customers", { mail: mailer.target, topic: config.TOPIC_ORDER_PROCESSING });
    await loop.done;
  } finally {
    mailer.close();
  }
}

/** Mails one transition, retrying with capped backoff; the outcome says whether it went. */
async function notify(
  transition: OrderTransition,
  mailer: Mailer,
  maxAttempts: number,
  signal: AbortSignal,
  log: RoleContext["log"],
): Promise<OrderNotified> {
  const mail = orderMail(transition);
  const base = {
    v: 1 as const,
    type: "OrderNotified" as const,
    id: transition.id,
    state: transition.state,
    to: mail.to,
    messageId: mail.messageId,
  };
  try {
    const { attempts } = await retry(() => mailer.send(mail), {
      maxAttempts,
      signal,
      initialMs: 200,
      maxMs: 5_000,
      onRetry: (error, attempt, delayMs) =>
        log.warn("mail failed; retrying", {
          id: transition.id,
          state: transition.state,
          attempt,
          delayMs,
          error,
        }),
    });
    return { ...base, status: "sent", attempts, at: new Date().toISOString() };
  } catch (error) {
    log.error("mail failed; giving up", { id: transition.id, state: transition.state, error });
    return {
      ...base,
      status: "failed",
      attempts: maxAttempts,
      error: error instanceof Error ? error.message : String(error),
      at: new Date().toISOString(),
    };
  }
}
