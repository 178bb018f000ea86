/**
 * What happens to a customer mail after each delivery attempt, pure: sent; refused for good (an
 * SMTP 5xx: published as `failed` at once); or refused for now (a 4xx, a refused connection, a
 * timeout: tried again later, as a mail server would, for up to `retryForMs`).
 *
 * A mail that must be tried again is not a timer in memory: it is a record on the retry topic
 * with the time it is due (as the processing role does for its own steps), so other orders' mail
 * and the partition's progress never wait for it, and a crash loses nothing.
 */
import { z } from "zod";
import { type OrderNotified, OrderTransitionSchema } from "./order.ts";
import { orderMail } from "./notification.ts";

/** Topic `order_mail_retries`: a mail still owed, and when to try it next (keyed by order id). */
export const MailRetrySchema = z.object({
  v: z.literal(1),
  type: z.literal("MailRetry"),
  /** The transition the mail announces. */
  transition: OrderTransitionSchema,
  /** Attempts made so far. */
  attempts: z.int().min(1),
  /** When the first attempt was made (ISO 8601): retries stop `retryForMs` after it. */
  firstAttemptAt: z.iso.datetime(),
  /** When to try again (ISO 8601). */
  dueAt: z.iso.datetime(),
  /** What the last attempt got. */
  lastError: z.string(),
});

/** A `MailRetry` record. */
export type MailRetry = z.infer<typeof MailRetrySchema>;

/** How a failed delivery attempt should be treated. */
export type FailureKind = "permanent" | "temporary";

/**
 * Whether an SMTP failure may pass: a 5xx reply is permanent (the server refuses this mail for
 * good); a 4xx reply, a connection refused or reset, a timeout or anything else is temporary.
 *
 * @param error What the mail transport threw (nodemailer sets `responseCode`).
 * @returns `permanent` or `temporary`.
 *
 * @example
 * ```ts
 * import { classifyMailFailure } from "./mail_delivery.ts";
 * classifyMailFailure({ responseCode: 550 }); // "permanent"
 * classifyMailFailure({ responseCode: 451 }); // "temporary"
 * ```
 */
export function classifyMailFailure(error: unknown): FailureKind {
  const code = (error as { responseCode?: unknown } | null)?.responseCode;
  return typeof code === "number" && code >= 500 && code < 600 ? "permanent" : "temporary";
}

/** Retry policy of {@linkcode afterAttempt}. */
export interface RetryPolicy {
  /** How long after the first attempt a temporary failure is still retried, in ms. */
  retryForMs: number;
  /** First delay, in ms. @default 1000 */
  initialDelayMs?: number;
  /** Largest delay between attempts, in ms. */
  maxDelayMs: number;
}

/** The outcome of one attempt, as {@linkcode afterAttempt} needs it. */
export type Attempt = { ok: true } | { ok: false; error: unknown };

/** What to publish after an attempt: the final outcome, or the retry still owed. */
export type AfterAttempt =
  | { kind: "notified"; record: OrderNotified }
  | { kind: "retry"; record: MailRetry };

/**
 * What follows an attempt of any mail (order or purchase): done, sent or failed for good, or
 * tried again when due.
 */
export type NextStep =
  | { kind: "done"; status: "sent"; attempts: number; at: string }
  | { kind: "done"; status: "failed"; attempts: number; at: string; error: string }
  | {
    kind: "retry";
    attempts: number;
    firstAttemptAt: string;
    dueAt: string;
    lastError: string;
  };

/**
 * Decides what an attempt of any mail leads to; {@linkcode afterAttempt} gives it the shape of an
 * order's records.
 *
 * The delay before attempt n+1 is `min(maxDelayMs, initialDelayMs × 2^(n−1))`, scaled into its
 * upper half by `random` (so mails that failed together do not all come back together).
 *
 * @param prior The attempts before this one (`attempts: 0` for a first try) and when the first was.
 * @param attempt What this attempt got.
 * @param now The clock.
 * @param policy How long and how often to retry.
 * @param random A number in [0, 1). @default Math.random()
 * @returns Done (sent, or failed for good with the reason), or the next attempt's due time.
 *
 * @example
 * ```ts
 * import { nextStep } from "./mail_delivery.ts";
 * const policy = { retryForMs: 60_000, maxDelayMs: 10_000 };
 * const now = new Date("2026-01-01T00:00:00.000Z");
 * nextStep({ attempts: 0 }, { ok: false, error: { responseCode: 451 } }, now, policy, 1).kind; // "retry"
 * ```
 */
export function nextStep(
  prior: { attempts: number; firstAttemptAt?: string },
  attempt: Attempt,
  now: Date,
  policy: RetryPolicy,
  random: number = Math.random(),
): NextStep {
  const attempts = prior.attempts + 1;
  const at = now.toISOString();
  const first = prior.firstAttemptAt ?? at;
  if (attempt.ok) return { kind: "done", status: "sent", attempts, at };
  const error = describe(attempt.error);
  const delay = Math.min(
    policy.maxDelayMs,
    (policy.initialDelayMs ?? 1000) * 2 ** (attempts - 1),
  ) * (0.5 + random / 2);
  const due = new Date(now.getTime() + Math.round(delay));
  const giveUp = classifyMailFailure(attempt.error) === "permanent" ||
    due.getTime() - Date.parse(first) > policy.retryForMs;
  if (giveUp) return { kind: "done", status: "failed", attempts, at, error };
  return {
    kind: "retry",
    attempts,
    firstAttemptAt: first,
    dueAt: due.toISOString(),
    lastError: error,
  };
}

/**
 * Decides what an attempt of an order's mail leads to ({@linkcode nextStep}, as order records).
 *
 * @param retry The transition and the attempts before this one (`attempts: 0` for a first try).
 * @param attempt What this attempt got.
 * @param now The clock.
 * @param policy How long and how often to retry.
 * @param random A number in [0, 1). @default Math.random()
 * @returns The `OrderNotified` to publish (sent, or failed for good), or the next `MailRetry`.
 */
export function afterAttempt(
  retry: Pick<MailRetry, "transition" | "attempts"> & { firstAttemptAt?: string },
  attempt: Attempt,
  now: Date,
  policy: RetryPolicy,
  random: number = Math.random(),
): AfterAttempt {
  const step = nextStep(retry, attempt, now, policy, random);
  if (step.kind === "retry") {
    const { kind: _, ...rest } = step;
    return {
      kind: "retry",
      record: { v: 1, type: "MailRetry", transition: retry.transition, ...rest },
    };
  }
  const mail = orderMail(retry.transition);
  const { kind: _, ...outcome } = step;
  return {
    kind: "notified",
    record: {
      v: 1,
      type: "OrderNotified",
      id: retry.transition.id,
      state: retry.transition.state,
      to: mail.to,
      messageId: mail.messageId,
      ...outcome,
    },
  };
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { responseCode?: unknown }).responseCode;
    return typeof code === "number" && !error.message.includes(String(code))
      ? `${code} ${error.message}`
      : error.message;
  }
  return String(error);
}
