/**
 * `worker --role notification`: for every transition in `order_processing`, mails the customer
 * (one subject and body per state, a Message-ID fixed per order and state) and publishes the
 * outcome to `order_notifications` in the same transaction as the input offset.
 *
 * Mail survives an SMTP outage: each mail is tried once when its transition is read. A temporary
 * refusal (4xx, no connection, timeout) becomes a record on `order_mail_retries` with the time it
 * is due (1 s, doubling to `MAIL_RETRY_MAX_DELAY_MS`), which this role reads back and tries again
 * when due, for up to `MAIL_RETRY_FOR_MS`; a permanent refusal (5xx) is published as `failed` at
 * once. So one failing mail never holds up other orders' mail or the partition's progress.
 *
 * Outcomes commit as they complete (the completed prefix of the batch, grouped with whatever else
 * is ready), so a crash sends again at most the mails in flight. Mail is at-least-once: a crash
 * after the SMTP server accepted a mail but before its outcome committed sends it again, with the
 * same Message-ID. The outcome record is exactly once. A batch read again by the same process (its
 * transaction failed, say while a broker restarts) does not mail again what this process already
 * sent: it remembers the Message-IDs it sent lately.
 *
 * Tracing: each mail tried is a hop (`process <topic>`) continuing the `traceparent` of the record
 * that asked for it, with the SMTP send as a child span (`smtp send`); the outcome or retry record
 * carries the hop's `traceparent`, so a retried mail stays in its order's trace.
 */
import type { BatchContext, InBatch, OutRecord } from "../lib/kafka/mod.ts";
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
import { orderMail } from "../lib/notification.ts";
import { type OrderTransition, OrderTransitionSchema } from "../lib/order.ts";
import { abortableSleep } from "../lib/retry.ts";
import { parseOrDeadLetter } from "./_parse.ts";
import { createMailer, type Mailer } from "./mailer.ts";
import { instanceId, onAbort, type RoleContext } from "./role.ts";

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
 * Runs the notification role until `ctx.signal` aborts.
 *
 * @param ctx Configuration, logger, Kafka client and stop signal.
 */
export async function run({ config, log, kafka, signal }: RoleContext): Promise<void> {
  const mailer = await createMailer(config, log);
  // Every outcome's series exists from the start: the first failure is an increase to alert on.
  for (const outcome of MAIL_OUTCOMES) mails.labels(outcome).inc(0);
  const deps: Deps = {
    mailer,
    sent: new RecentlySent(RECENTLY_SENT),
    log,
    policy: { retryForMs: config.MAIL_RETRY_FOR_MS, maxDelayMs: config.MAIL_RETRY_MAX_DELAY_MS },
    topics: {
      retries: config.TOPIC_MAIL_RETRIES,
      notifications: config.TOPIC_ORDER_NOTIFICATIONS,
      deadLetter: config.TOPIC_DEAD_LETTER,
    },
  };
  const loop = kafka.runTransactional({
    log,
    groupId: `${config.GROUP_ID_PREFIX}-notification`,
    transactionalId: `${config.GROUP_ID_PREFIX}-notification-${instanceId(config)}`,
    instanceId: `notification-${instanceId(config)}`,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    topics: [config.TOPIC_ORDER_PROCESSING, config.TOPIC_MAIL_RETRIES],
    handle: (batch, ctx) => deliverBatch(batch, ctx, deps),
  });
  onAbort(signal, () => void loop.stop());
  try {
    await loop.ready;
    log.info("notifying customers", { mail: mailer.target, topic: config.TOPIC_ORDER_PROCESSING });
    await loop.done;
  } finally {
    await loop.stop();
    mailer.close();
  }
}

interface Deps {
  mailer: Mailer;
  /** Message-IDs this process has sent lately: a batch read again is not mailed again. */
  sent: RecentlySent;
  log: Logger;
  policy: RetryPolicy;
  topics: { retries: string; notifications: string; deadLetter: string };
}

/** A mail owed: the transition, the attempts so far, and when it may be tried. */
type Owed = Pick<MailRetry, "transition" | "attempts"> & {
  firstAttemptAt?: string;
  dueAt?: string;
};

/**
 * One batch of one partition (transitions, or retries that fell due): each mail tried once,
 * different orders at once, one order's in order; outcomes committed as the completed prefix
 * grows.
 */
async function deliverBatch(batch: InBatch, ctx: BatchContext, deps: Deps): Promise<void> {
  const results: (OutRecord[] | undefined)[] = new Array(batch.records.length);
  const committer = new PrefixCommitter(batch, results, ctx);
  const slots = new Slots(CONCURRENCY);
  const chains = new Map<string, Promise<void>>();
  const running: Promise<void>[] = [];
  const isRetry = batch.topic === deps.topics.retries;
  for (const [i, record] of batch.records.entries()) {
    const owed = owedOf(record, isRetry, deps);
    if ("letter" in owed) {
      results[i] = [owed.letter];
      committer.kick();
      continue;
    }
    // Retries are read in the order they were written: waiting on the head is waiting on the
    // earliest written, and never holds a transaction open.
    if (owed.dueAt !== undefined && !await waitUntil(new Date(owed.dueAt), ctx.signal)) break;
    await slots.take();
    if (ctx.signal.aborted) {
      slots.give();
      break;
    }
    const id = owed.transition.id;
    const task = (chains.get(id) ?? Promise.resolve())
      .then(async () => {
        const hop = startHop(`process ${record.topic}`, {
          parent: record.headers[TRACEPARENT],
          kind: "consumer",
          attributes: {
            ...kafkaAttributes("process", record.topic, record),
            "despacho.order.id": id,
            "despacho.order.state": owed.transition.state,
            "despacho.mail.attempt": owed.attempts + 1,
          },
        });
        try {
          const attempt = await tryOnce(deps.mailer, deps.sent, owed.transition, hop);
          const after = afterAttempt(owed, attempt, new Date(), deps.policy);
          results[i] = recordsOf(after, deps, hop.traceparent);
        } finally {
          hop.end();
        }
      })
      .finally(() => slots.give())
      .then(() => committer.kick());
    chains.set(id, task.catch(() => {}));
    running.push(task);
  }
  // A mail the SMTP server is taking cannot be called back: let the sends end.
  await Promise.allSettled(running);
  if (ctx.signal.aborted) return;
  await committer.finish();
}

function owedOf(
  record: InBatch["records"][number],
  isRetry: boolean,
  deps: Deps,
): Owed | { letter: OutRecord } {
  if (isRetry) {
    const parsed = parseOrDeadLetter(record, MailRetrySchema, deps.topics.deadLetter, deps.log);
    return parsed.ok ? parsed.value : { letter: parsed.letter };
  }
  const parsed = parseOrDeadLetter(record, OrderTransitionSchema, deps.topics.deadLetter, deps.log);
  return parsed.ok ? { transition: parsed.value, attempts: 0 } : { letter: parsed.letter };
}

async function tryOnce(
  mailer: Mailer,
  sent: RecentlySent,
  transition: OrderTransition,
  parent: Hop,
): Promise<Attempt> {
  const mail = orderMail(transition);
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

function recordsOf(after: AfterAttempt, deps: Deps, traceparent: string): OutRecord[] {
  const r = after.record;
  const where = { id: r.type === "MailRetry" ? r.transition.id : r.id };
  const headers = { [TRACEPARENT]: traceparent };
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
  return [{
    topic: deps.topics.notifications,
    key: after.record.id,
    value: JSON.stringify(after.record),
    headers,
  }];
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
    private readonly results: (OutRecord[] | undefined)[],
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
    const out: OutRecord[] = [];
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

/** Sleeps until `until`; false when the partition is revoked or the role stops first. */
async function waitUntil(until: Date, signal: AbortSignal): Promise<boolean> {
  try {
    await abortableSleep(Math.max(0, until.getTime() - Date.now()), signal);
    return true;
  } catch {
    return false;
  }
}
