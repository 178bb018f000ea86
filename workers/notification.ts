/**
 * `worker --role notification`: mails customers and publishes what became of each mail, in the
 * same transaction as the input offset.
 *
 * - Orders: for every transition in `order_processing`, one mail (one subject and body per state,
 *   a Message-ID fixed per order and state); outcomes on `order_notifications`.
 * - Purchases: for every notification in `purchase_notifications` (written by purchase-analytics),
 *   its mail (Message-ID `<{event id}.{folio}@despacho.local>`); outcomes on `purchase_mail`,
 *   without address or text.
 *
 * Mail survives an SMTP outage: each mail is tried once when it is read. A temporary refusal
 * (4xx, no connection, timeout) becomes a record on the kind's retry topic (`order_mail_retries`,
 * `purchase_mail_retries`) with the time it is due (1 s, doubling to `MAIL_RETRY_MAX_DELAY_MS`),
 * which this role reads back and tries again when due, for up to `MAIL_RETRY_FOR_MS`; a permanent
 * refusal (5xx) is published as `failed` at once. So one failing mail never holds up other mail or
 * the partition's progress. Purchase mail has a retry topic of its own (rather than sharing the
 * order one) so that an instance of an earlier version, during a rolling upgrade, never reads a
 * purchase retry it would not understand.
 *
 * Outcomes commit as they complete (the completed prefix of the batch, grouped with whatever else
 * is ready), so a crash sends again at most the mails in flight. Mail is at-least-once: a crash
 * after the SMTP server accepted a mail but before its outcome committed sends it again, with the
 * same Message-ID. The outcome record is exactly once. A batch read again by the same run of the
 * role (its transaction failed, say while a broker restarts) does not mail again what it already
 * sent: it remembers the Message-IDs it sent lately. A run restarted in the same process starts
 * with none remembered.
 *
 * Erasure (staff's `DELETE /orders/{id}`; lib/erasures.ts): an order in flight is cancelled, so
 * no mail goes to it after its erasure. Met in `order_processing`, `OrderErased` becomes the status
 * topic's tombstones of the order's mail keys (the processing role tombstones the step keys) and
 * the id is remembered; a transition or a mail retry of an erased order sends nothing and publishes
 * no outcome, only the mail tombstones again, and its offset commits. The set of erased ids is
 * loaded from `order_erasures` before the loop starts, follows it while the role runs, and is
 * caught up on every assignment before a batch is decided (`ErasedOrders.caughtUpNow`): a
 * partition taken over past its `OrderErased` still knows. A mail is checked again just before it
 * is tried (a retry waits until due; an order's mails wait for each other). What `order_processing`,
 * `order_notifications` and `order_mail_retries` hold of the order stays until their
 * `retention.ms`.
 *
 * The race left open: a retry of the order's mail read from `order_mail_retries` (another
 * partition, maybe another instance) and tried at the moment the erasure is requested, before the
 * follower of `order_erasures` brings the id (a fetch, about 100 ms): that mail goes, and its
 * outcome may be committed after the tombstones. A later record of the order (its next transition,
 * a retry) tombstones the outcome again; an order cancelled with nothing later keeps that one
 * mail outcome in the status topic until the next erasure-aware record of it, or retention.
 *
 * Tracing: each mail tried is a hop (`process <topic>`) continuing the `traceparent` of the record
 * that asked for it, with the SMTP send as a child span (`smtp send`); the outcome or retry record
 * carries the hop's `traceparent`, so a retried mail stays in its order's trace.
 */
import type { z } from "zod";
import type { BatchContext, InBatch, InRecord, Outgoing, OutRecord } from "../lib/kafka/mod.ts";
import { ErasedOrders } from "../lib/erasures.ts";
import type { Logger } from "../lib/log.ts";
import { MAIL_OUTCOMES, mails } from "../lib/metrics.ts";
import { type Hop, kafkaAttributes, startHop, TRACEPARENT } from "../lib/tracing.ts";
import {
  type AfterAttempt,
  afterAttempt,
  type Attempt,
  type MailRetry,
  MailRetrySchema,
  type RetryPolicy,
} from "../lib/mail_delivery.ts";
import { orderMail, orderMailStep } from "../lib/order_mail.ts";
import { OrderProcessingEventSchema, type OrderTransition } from "../lib/order.ts";
import { mailRecord, mailTombstones } from "../lib/order_status.ts";
import { PurchaseNotifiedSchema } from "../lib/purchase.ts";
import {
  type AfterPurchaseAttempt,
  afterPurchaseAttempt,
  purchaseMail,
  type PurchaseMailRetry,
  PurchaseMailRetrySchema,
} from "../lib/purchase_mail.ts";
import { sleepUntil } from "../lib/wait.ts";
import { parseOrDeadLetter } from "./_parse.ts";
import { createMailer, type Mail, type Mailer } from "./mailer.ts";
import { instanceId, onAbort, type RoleContext, type RoleIdentity } from "./role.ts";

/** Mails sent at once; one order's mails go one after another, in the order read. */
const CONCURRENCY = 16;
/** Message-IDs remembered as sent by this process. */
const RECENTLY_SENT = 50_000;

/** A bounded set of the Message-IDs sent last, oldest forgotten first. */
export class RecentlySent {
  #ids = new Set<string>();
  #max: number;

  /** @param max Message-IDs kept. */
  constructor(max: number) {
    this.#max = max;
  }

  /** Whether `id` was sent lately. */
  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /** Remembers `id`, forgetting the oldest beyond the bound. */
  add(id: string): void {
    this.#ids.add(id);
    if (this.#ids.size > this.#max) this.#ids.delete(this.#ids.values().next().value!);
  }
}

/**
 * The notification role's consumer group and input topics: order steps and purchase notifications
 * to mail, and the retries of each kind (a source in `run` reads each).
 */
export function identity(config: RoleContext["config"]): RoleIdentity {
  return {
    groupId: `${config.GROUP_ID_PREFIX}-notification`,
    topics: [
      config.TOPIC_ORDER_PROCESSING,
      config.TOPIC_MAIL_RETRIES,
      config.TOPIC_PURCHASE_NOTIFICATIONS,
      config.TOPIC_PURCHASE_MAIL_RETRIES,
    ],
  };
}

/**
 * Runs the notification role until `ctx.signal` aborts.
 *
 * @param ctx Configuration, logger, Kafka client and stop signal.
 */
export async function run({ config, log, kafka, signal }: RoleContext): Promise<void> {
  const mailer = await createMailer(config, log);
  // Every outcome's series exists from the start: the first failure is an increase to alert on.
  for (const outcome of MAIL_OUTCOMES) mails.labels(outcome).inc(0);
  // Every erasure requested so far, before the loop decides anything (see the header).
  const erased = ErasedOrders.of(kafka, config, log);
  await erased.start();
  const deps: Deps = {
    erased,
    mailer,
    sent: new RecentlySent(RECENTLY_SENT),
    log,
    policy: { retryForMs: config.MAIL_RETRY_FOR_MS, maxDelayMs: config.MAIL_RETRY_MAX_DELAY_MS },
    topics: {
      retries: config.TOPIC_MAIL_RETRIES,
      notifications: config.TOPIC_ORDER_NOTIFICATIONS,
      status: config.TOPIC_ORDER_STATUS,
      purchaseRetries: config.TOPIC_PURCHASE_MAIL_RETRIES,
      purchaseMail: config.TOPIC_PURCHASE_MAIL,
    },
    sources: new Map(),
  };
  const parse = <T>(record: InRecord, schema: z.ZodType<T>) =>
    parseOrDeadLetter(record, schema, config.TOPIC_DEAD_LETTER, log);
  deps.sources = new Map<string, Source>([
    [config.TOPIC_ORDER_PROCESSING, (r) => {
      const p = parse(r, OrderProcessingEventSchema);
      if (!p.ok) return { letter: p.letter };
      const step = erasedOrMail(p.value, deps);
      return "publish" in step
        ? step
        : orderOwed({ transition: step.transition, attempts: 0 }, deps);
    }],
    [config.TOPIC_MAIL_RETRIES, (r) => {
      const p = parse(r, MailRetrySchema);
      if (!p.ok) return { letter: p.letter };
      const step = erasedOrMail(p.value.transition, deps);
      return "publish" in step ? step : orderOwed(p.value, deps);
    }],
    [config.TOPIC_PURCHASE_NOTIFICATIONS, (r) => {
      const p = parse(r, PurchaseNotifiedSchema);
      return p.ok
        ? purchaseOwed({ notification: p.value, attempts: 0 }, deps)
        : { letter: p.letter };
    }],
    [config.TOPIC_PURCHASE_MAIL_RETRIES, (r) => {
      const p = parse(r, PurchaseMailRetrySchema);
      return p.ok ? purchaseOwed(p.value, deps) : { letter: p.letter };
    }],
  ]);
  const { groupId, topics } = identity(config);
  const loop = kafka.runTransactional({
    log,
    groupId,
    // Under the group's name, as the ACLs grant it (`<group>-` prefixed).
    transactionalId: `${groupId}-${instanceId(config)}`,
    instanceId: `notification-${instanceId(config)}`,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    topics,
    // A partition that was another instance's may hold records past an erasure never read here.
    onAssign: () => erased.assigned(),
    handle: async (batch, ctx) => {
      await erased.settled();
      await deliverBatch(batch, ctx, deps);
    },
  });
  const forget = onAbort(signal, () => void loop.stop());
  try {
    await loop.ready;
    log.info("notifying customers", {
      mail: mailer.target,
      topic: config.TOPIC_ORDER_PROCESSING,
      purchases: config.TOPIC_PURCHASE_NOTIFICATIONS,
    });
    await loop.done;
  } finally {
    forget();
    await loop.stop();
    await erased.stop();
    mailer.close();
  }
}

interface Deps {
  /** The erased orders: no mail to them. */
  erased: ErasedOrders;
  mailer: Mailer;
  /** Message-IDs this process has sent lately: a batch read again is not mailed again. */
  sent: RecentlySent;
  log: Logger;
  policy: RetryPolicy;
  topics: {
    retries: string;
    notifications: string;
    /** The compacted order status topic: `{id}/mail/{state}` (lib/order_status.ts). */
    status: string;
    purchaseRetries: string;
    purchaseMail: string;
  };
  /** What each input topic's records ask for. */
  sources: Map<string, Source>;
}

/**
 * Reads one record of an input topic: the mail it asks for, its dead letter, or what to publish
 * instead of a mail (an erased order's tombstones).
 */
type Source = (record: InRecord) => Owed | { letter: OutRecord } | { publish: Outgoing[] };

/** A mail owed, of any kind: what to send, when, and what to publish after an attempt. */
interface Owed {
  /** Mails with the same chain (one order's, one event's) are tried one after another. */
  chain: string;
  mail: Mail;
  /** Attempts made before this one. */
  attempts: number;
  /** When it may be tried (ISO 8601); a first attempt may be made at once. */
  dueAt?: string | undefined;
  /** What the hop of an attempt says about the mail (no address). */
  attributes: Record<string, string | number>;
  /** The outcome or retry record after an attempt, logged and counted. */
  after(attempt: Attempt, now: Date, headers: Record<string, string>): OutRecord[];
  /**
   * Asked just before the attempt: what to publish instead when the mail is no longer owed (its
   * order was erased while it waited), or null.
   */
  cancelled?: () => Outgoing[] | null;
}

/**
 * One batch of one partition (transitions, purchase notifications, or retries that fell due): each
 * mail tried once, different orders and events at once, one order's in order; outcomes committed
 * as the completed prefix grows.
 */
async function deliverBatch(batch: InBatch, ctx: BatchContext, deps: Deps): Promise<void> {
  const results: (Outgoing[] | undefined)[] = new Array(batch.records.length);
  const committer = new PrefixCommitter(batch, results, ctx);
  const slots = new Slots(CONCURRENCY);
  const chains = new Map<string, Promise<void>>();
  const running: Promise<void>[] = [];
  const source = deps.sources.get(batch.topic);
  if (source === undefined) {
    throw new RangeError(`Cannot deliver mail of ${batch.topic}: the role does not read it`);
  }
  for (const [i, record] of batch.records.entries()) {
    const owed = source(record);
    if ("letter" in owed || "publish" in owed) {
      results[i] = "letter" in owed ? [owed.letter] : owed.publish;
      committer.kick();
      continue;
    }
    // Retries are read in the order they were written: waiting on the head is waiting on the
    // earliest written, and never holds a transaction open.
    if (owed.dueAt !== undefined && !await sleepUntil(new Date(owed.dueAt), ctx.signal)) break;
    await slots.take();
    if (ctx.signal.aborted) {
      slots.give();
      break;
    }
    const task = (chains.get(owed.chain) ?? Promise.resolve())
      .then(async () => {
        const instead = owed.cancelled?.() ?? null;
        if (instead !== null) {
          results[i] = instead;
          return;
        }
        const hop = startHop(`process ${record.topic}`, {
          parent: record.headers[TRACEPARENT],
          kind: "consumer",
          attributes: {
            ...kafkaAttributes("process", record.topic, record),
            ...owed.attributes,
            "despacho.mail.attempt": owed.attempts + 1,
          },
        });
        try {
          const attempt = await tryOnce(deps.mailer, deps.sent, owed.mail, hop);
          results[i] = owed.after(attempt, new Date(), { [TRACEPARENT]: hop.traceparent });
        } finally {
          hop.end();
        }
      })
      .finally(() => slots.give())
      .then(() => committer.kick());
    chains.set(owed.chain, task.catch(() => {}));
    running.push(task);
  }
  // A mail the SMTP server is taking cannot be called back: let the sends end.
  await Promise.allSettled(running);
  if (ctx.signal.aborted) return;
  await committer.finish();
}

async function tryOnce(
  mailer: Mailer,
  sent: RecentlySent,
  mail: Mail,
  parent: Hop,
): Promise<Attempt> {
  if (sent.has(mail.messageId)) return { ok: true }; // sent before its outcome could commit
  const send = startHop("smtp send", {
    parent: parent.traceparent,
    kind: "client",
    attributes: {
      "despacho.mail.target": mailer.target,
      "despacho.mail.message_id": mail.messageId,
    },
  });
  try {
    await mailer.send(mail);
    sent.add(mail.messageId);
    send.end();
    return { ok: true };
  } catch (error) {
    send.end(error);
    return { ok: false, error };
  }
}

/** An order's mail: the transition it announces, from `order_processing` or a `MailRetry`. */
function orderOwed(
  owed: Pick<MailRetry, "transition" | "attempts"> & { firstAttemptAt?: string; dueAt?: string },
  deps: Deps,
): Owed {
  const { transition } = owed;
  return {
    chain: `order/${transition.id}`,
    mail: orderMail(transition),
    attempts: owed.attempts,
    dueAt: owed.dueAt,
    attributes: { "despacho.order.id": transition.id, "despacho.order.state": transition.state },
    after: (attempt, now, headers) =>
      orderRecord(afterAttempt(owed, attempt, now, deps.policy), deps, headers),
    cancelled: () =>
      deps.erased.has(transition.id) ? mailTombstones(deps.topics.status, transition.id) : null,
  };
}

/** An order's record or retry: the transition to mail, or an erased order's tombstones. */
function erasedOrMail(
  event: z.infer<typeof OrderProcessingEventSchema>,
  deps: Deps,
): { transition: OrderTransition } | { publish: Outgoing[] } {
  const step = orderMailStep(event, (id) => deps.erased.has(id), deps.topics.status);
  if (step.kind === "mail") return { transition: step.transition };
  if (!deps.erased.has(step.erased)) deps.log.info("order erased", { id: step.erased });
  deps.erased.add(step.erased);
  return { publish: step.records };
}

function orderRecord(
  after: AfterAttempt,
  deps: Deps,
  headers: Record<string, string>,
): OutRecord[] {
  const r = after.record;
  const where = { id: r.type === "MailRetry" ? r.transition.id : r.id };
  if (after.kind === "retry") {
    mails.labels("retried").inc();
    deps.log.warn("mail refused for now; it will be tried again", {
      ...where,
      // A configuration failure waits for our settings to be fixed, however long (see mailer).
      failure: after.failure.kind === "configuration" ? after.failure.reason : after.failure.kind,
      state: after.record.transition.state,
      attempts: after.record.attempts,
      dueAt: after.record.dueAt,
      error: after.record.lastError,
    });
    return [{
      topic: deps.topics.retries,
      key: after.record.transition.id,
      value: JSON.stringify(after.record),
      headers,
    }];
  }
  mails.labels(after.record.status).inc();
  if (after.record.status === "failed") {
    deps.log.error("mail not delivered; published as failed", {
      ...where,
      state: after.record.state,
      attempts: after.record.attempts,
      error: after.record.error,
    });
  } else if (after.record.attempts > 1) {
    deps.log.info("mail delivered after retries", {
      ...where,
      state: after.record.state,
      attempts: after.record.attempts,
    });
  }
  return [
    {
      topic: deps.topics.notifications,
      key: after.record.id,
      value: JSON.stringify(after.record),
      headers,
    },
    // The order's lasting status, in the same transaction as the outcome.
    { ...mailRecord(deps.topics.status, after.record), headers },
  ];
}

/** A purchase's mail: its notification, from `purchase_notifications` or a `PurchaseMailRetry`. */
function purchaseOwed(
  owed: Pick<PurchaseMailRetry, "notification" | "attempts"> & {
    firstAttemptAt?: string;
    dueAt?: string;
  },
  deps: Deps,
): Owed {
  const n = owed.notification;
  return {
    chain: `purchase/${n.id}`,
    mail: purchaseMail(n),
    attempts: owed.attempts,
    dueAt: owed.dueAt,
    attributes: { "despacho.purchase.id": n.id, "despacho.purchase.kind": n.kind },
    after: (attempt, now, headers) => [
      purchaseRecord(afterPurchaseAttempt(owed, attempt, now, deps.policy), deps, headers),
    ],
  };
}

function purchaseRecord(
  after: AfterPurchaseAttempt,
  deps: Deps,
  headers: Record<string, string>,
): OutRecord {
  // Ids only in logs: the address and the name stay in the records that need them.
  if (after.kind === "retry") {
    const r = after.record;
    mails.labels("retried").inc();
    deps.log.warn("purchase mail refused for now; it will be tried again", {
      id: r.notification.id,
      folio: r.notification.folio,
      attempts: r.attempts,
      dueAt: r.dueAt,
      error: r.lastError,
    });
    return {
      topic: deps.topics.purchaseRetries,
      key: r.notification.id,
      value: JSON.stringify(r),
      headers,
    };
  }
  const r = after.record;
  mails.labels(r.status).inc();
  if (r.status === "failed") {
    deps.log.error("purchase mail not delivered; published as failed", {
      id: r.id,
      folio: r.folio,
      attempts: r.attempts,
      error: r.error,
    });
  } else if (r.attempts > 1) {
    deps.log.info("purchase mail delivered after retries", {
      id: r.id,
      folio: r.folio,
      attempts: r.attempts,
    });
  }
  return { topic: deps.topics.purchaseMail, key: r.id, value: JSON.stringify(r), headers };
}

/**
 * Commits the longest completed prefix of a batch, one commit after another (a later commit never
 * overtakes an earlier one, so a failed commit cannot leave a hole behind a committed offset).
 */
class PrefixCommitter {
  #next = 0;
  #chain: Promise<void> = Promise.resolve();
  #error: unknown = null;

  constructor(
    private readonly batch: InBatch,
    private readonly results: (Outgoing[] | undefined)[],
    private readonly ctx: BatchContext,
  ) {}

  /** Commits what has completed since the last commit, after it. */
  kick(): void {
    this.#chain = this.#chain.then(() => this.#commitPrefix()).catch((error) => {
      this.#error ??= error;
    });
  }

  /** Commits the rest, and throws the first commit failure. */
  async finish(): Promise<void> {
    this.kick();
    await this.#chain;
    if (this.#error !== null) throw this.#error;
  }

  async #commitPrefix(): Promise<void> {
    if (this.#error !== null) return;
    let end = this.#next;
    const out: Outgoing[] = [];
    while (end < this.results.length && this.results[end] !== undefined) {
      out.push(...this.results[end++]!);
    }
    if (end === this.#next) return;
    await this.ctx.commit(out, this.batch.records[end - 1]!.offset);
    this.#next = end;
  }
}

/** A counting semaphore. */
class Slots {
  #free: number;
  #waiting: (() => void)[] = [];

  constructor(count: number) {
    this.#free = count;
  }

  take(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  give(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}
