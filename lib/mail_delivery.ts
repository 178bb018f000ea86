/**
 * What happens to a customer mail after each delivery attempt, pure: sent; refused for good (an
 * SMTP 5xx: published as `failed` at once); refused for now (a 4xx, a refused connection, a
 * timeout: tried again later, as a mail server would, for up to `retryForMs`); or not even tried
 * because our own SMTP configuration is wrong (login refused, certificate not trusted, TLS not
 * possible): tried again later for as long as it takes, since the recipient is not at fault.
 *
 * A mail that must be tried again is not a timer in memory: it is a record on the retry topic
 * with the time it is due (as the processing role does for its own steps), so other orders' mail
 * and the partition's progress never wait for it, and a crash loses nothing.
 */
import { z } from "zod";
import { type OrderNotified, OrderTransitionSchema } from "./order.ts";
import { orderMail } from "./order_mail.ts";

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

/**
 * How a failed delivery attempt should be treated: `permanent` (the server refuses this mail for
 * good), `temporary` (it may pass), or `configuration` (our SMTP settings are wrong: it passes
 * once they are fixed, whatever the time it takes).
 */
export type FailureKind = "permanent" | "temporary" | "configuration";

/** Why an attempt failed for a `configuration` reason: a refused login, or TLS that failed. */
export const MAIL_CONFIGURATION_REASONS = ["smtp_login_refused", "smtp_tls_failed"] as const;

/** One of {@linkcode MAIL_CONFIGURATION_REASONS}. */
export type MailConfigurationReason = typeof MAIL_CONFIGURATION_REASONS[number];

/** A failed attempt, classified by {@linkcode mailFailure}. */
export type MailFailure =
  | { kind: "permanent" | "temporary" }
  | { kind: "configuration"; reason: MailConfigurationReason };

/**
 * SMTP replies that refuse the login, not the mail: 530 (authentication or STARTTLS required),
 * 534 (mechanism too weak), 535 (credentials invalid), 538 (encryption required for the
 * mechanism). They are 5xx, but no other server or later attempt would accept what we send.
 */
const LOGIN_REPLIES = new Set([530, 534, 535, 538]);
/** nodemailer's codes for a login it could not make (refused, or no credentials). */
const LOGIN_CODES = new Set(["EAUTH", "ENOAUTH"]);
/**
 * A TLS failure under the SMTP session (nodemailer's `originalCode`, from Node's TLS layer): the
 * certificate not trusted, expired or for another name, or TLS not spoken on that port.
 */
const TLS_CODE = /CERT|SIGNATURE|^ERR_SSL_|^ERR_TLS_/;

/**
 * Classifies what a delivery attempt threw. Our configuration's faults come first, since a
 * refused login is also a 5xx reply: a login refused (`EAUTH`, 530/534/535/538) or TLS that failed
 * (`ETLS`: STARTTLS refused or its handshake failed; a certificate error) is `configuration`;
 * then any other 5xx reply is `permanent`; a 4xx reply, a connection refused or reset, a timeout
 * or anything else is `temporary`.
 *
 * @param error What the mail transport threw (nodemailer sets `code`, `originalCode` and
 * `responseCode`).
 * @returns The kind, and for `configuration` the reason.
 *
 * @example
 * ```ts
 * import { mailFailure } from "./mail_delivery.ts";
 * mailFailure({ code: "EAUTH", responseCode: 535 }); // { kind: "configuration", reason: "smtp_login_refused" }
 * mailFailure({ responseCode: 550 }); // { kind: "permanent" }
 * ```
 */
export function mailFailure(error: unknown): MailFailure {
  const e = (typeof error === "object" && error !== null ? error : {}) as {
    code?: unknown;
    originalCode?: unknown;
    responseCode?: unknown;
  };
  const reply = typeof e.responseCode === "number" ? e.responseCode : null;
  if (LOGIN_CODES.has(String(e.code)) || (reply !== null && LOGIN_REPLIES.has(reply))) {
    return { kind: "configuration", reason: "smtp_login_refused" };
  }
  if (e.code === "ETLS" || (typeof e.originalCode === "string" && TLS_CODE.test(e.originalCode))) {
    return { kind: "configuration", reason: "smtp_tls_failed" };
  }
  return { kind: reply !== null && reply >= 500 && reply < 600 ? "permanent" : "temporary" };
}

/**
 * Whether an SMTP failure may pass: {@linkcode mailFailure}'s kind alone.
 *
 * @param error What the mail transport threw (nodemailer sets `responseCode`).
 * @returns `permanent`, `temporary` or `configuration`.
 *
 * @example
 * ```ts
 * import { classifyMailFailure } from "./mail_delivery.ts";
 * classifyMailFailure({ responseCode: 550 }); // "permanent"
 * classifyMailFailure({ responseCode: 451 }); // "temporary"
 * classifyMailFailure({ code: "EAUTH", responseCode: 535 }); // "configuration"
 * ```
 */
export function classifyMailFailure(error: unknown): FailureKind {
  return mailFailure(error).kind;
}

/** Retry policy of {@linkcode afterAttempt}. */
export interface RetryPolicy {
  /**
   * How long after the first attempt a temporary failure is still retried, in ms. A
   * configuration failure is retried for as long as it lasts: the mail is not at fault.
   */
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
  | { kind: "retry"; record: MailRetry; failure: MailFailure };

/**
 * What follows an attempt of any mail (order or purchase): done, sent or failed for good, or
 * tried again when due, with the failure that asked for it.
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
    failure: MailFailure;
  };

/**
 * Decides what an attempt of any mail leads to; {@linkcode afterAttempt} gives it the shape of an
 * order's records.
 *
 * The delay before attempt n+1 is `min(maxDelayMs, initialDelayMs × 2^(n−1))`, scaled into its
 * upper half by `random` (so mails that failed together do not all come back together). A
 * permanent failure is done at once; a temporary one is retried until `retryForMs` has passed
 * since the first attempt; a configuration failure (our SMTP settings) for as long as it lasts.
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
  const failure = mailFailure(attempt.error);
  const giveUp = failure.kind === "permanent" ||
    (failure.kind === "temporary" && due.getTime() - Date.parse(first) > policy.retryForMs);
  if (giveUp) return { kind: "done", status: "failed", attempts, at, error };
  return {
    kind: "retry",
    attempts,
    firstAttemptAt: first,
    dueAt: due.toISOString(),
    lastError: error,
    failure,
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
 * @returns The `OrderNotified` to publish (sent, or failed for good), or the next `MailRetry` with
 * the failure that asked for it.
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
    const { kind: _, failure, ...rest } = step;
    return {
      kind: "retry",
      failure,
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

/** What stands for the recipient in an error published or logged. */
export const RECIPIENT = "<recipient>";

/**
 * `text` with every occurrence of `address` (any case) replaced by {@linkcode RECIPIENT}: SMTP
 * servers quote the recipient in their refusals.
 *
 * @param text An error's text.
 * @param address The recipient.
 * @returns The text without the address.
 *
 * @example
 * ```ts
 * import { withoutAddress } from "./mail_delivery.ts";
 * withoutAddress("550 <Ana@mail.com>: no such user", "ana@mail.com"); // "550 <<recipient>>: no such user"
 * ```
 */
export function withoutAddress(text: string, address: string): string {
  if (address === "") return text;
  // A regular expression rather than indexes into a lower-cased copy: lower-casing may change a
  // string's length (addresses may hold any letter, SMTPUTF8).
  const pattern = new RegExp(address.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "giu");
  return text.replace(pattern, RECIPIENT);
}
