/**
 * Mailing a purchase notification, pure: the mail a `PurchaseNotified` becomes, what is published
 * after each attempt, and the records of the two topics this adds. The notification role sends it
 * with the same machinery as order mail (lib/mail_delivery.ts): a temporary refusal waits on
 * `purchase_mail_retries` for its due time, a permanent one is failed at once, and every outcome
 * is published on `purchase_mail`.
 *
 * The outcome carries no address, name or text: the notification of record
 * (`purchase_notifications`) has them; the outcome says only which purchase, and what became of
 * its mail. An SMTP refusal that quotes the address has it replaced before it is published or
 * logged.
 */
import { z } from "zod";
import { type Attempt, nextStep, type RetryPolicy, withoutAddress } from "./mail_delivery.ts";
import { type PurchaseNotified, PurchaseNotifiedSchema } from "./purchase.ts";

/** A purchase mail to send, independent of the transport. */
export interface PurchaseMail {
  to: string;
  subject: string;
  text: string;
  /** Deterministic per (event, folio): a notification read again yields the same Message-ID. */
  messageId: string;
}

/**
 * The Message-ID of the mail about purchase `folio` of event `id`.
 *
 * @param id The event id.
 * @param folio The purchase's folio.
 * @param domain The right-hand side of the id. @default "despacho.local"
 * @returns `<{id}.{folio}@{domain}>`.
 *
 * @example
 * ```ts
 * import { purchaseMessageId } from "./purchase_mail.ts";
 * purchaseMessageId("p1", "F-9"); // "<p1.F-9@despacho.local>"
 * ```
 */
export function purchaseMessageId(id: string, folio: string, domain = "despacho.local"): string {
  return `<${id}.${folio}@${domain}>`;
}

/**
 * The mail a purchase notification becomes.
 *
 * @param n The notification read from `purchase_notifications`.
 * @returns Recipient, subject, body and Message-ID.
 */
export function purchaseMail(n: PurchaseNotified): PurchaseMail {
  return {
    to: n.to,
    subject: n.subject,
    text: n.text,
    messageId: purchaseMessageId(n.id, n.folio),
  };
}

/**
 * Topic `purchase_mail_retries`: a purchase mail still owed, and when to try it next (keyed by
 * event id). It carries the whole notification, as `MailRetry` carries the whole transition.
 */
export const PurchaseMailRetrySchema = z.object({
  v: z.literal(1),
  type: z.literal("PurchaseMailRetry"),
  /** The notification the mail sends. */
  notification: PurchaseNotifiedSchema,
  /** Attempts made so far. */
  attempts: z.int().min(1),
  /** When the first attempt was made (ISO 8601): retries stop `retryForMs` after it. */
  firstAttemptAt: z.iso.datetime(),
  /** When to try again (ISO 8601). */
  dueAt: z.iso.datetime(),
  /** What the last attempt got (the address replaced). */
  lastError: z.string(),
});

/** A `PurchaseMailRetry` record. */
export type PurchaseMailRetry = z.infer<typeof PurchaseMailRetrySchema>;

/**
 * Topic `purchase_mail`: what became of a purchase's mail (keyed by event id). No address, name or
 * text: those stay in `purchase_notifications`.
 */
export const PurchaseMailedSchema = z.object({
  v: z.literal(1),
  type: z.literal("PurchaseMailed"),
  /** The event id. */
  id: z.string(),
  folio: z.string(),
  kind: z.enum(["short", "long"]),
  /** Deterministic per (event, folio): a mail sent twice carries the same one. */
  messageId: z.string(),
  status: z.enum(["sent", "failed"]),
  attempts: z.int().min(1),
  /** Why it failed (the address replaced); only when `failed`. */
  error: z.string().optional(),
  at: z.iso.datetime(),
});

/** A `PurchaseMailed` record. */
export type PurchaseMailed = z.infer<typeof PurchaseMailedSchema>;

/** What to publish after an attempt of a purchase mail: its outcome, or the retry still owed. */
export type AfterPurchaseAttempt =
  | { kind: "mailed"; record: PurchaseMailed }
  | { kind: "retry"; record: PurchaseMailRetry };

/**
 * Decides what an attempt of a purchase mail leads to: the same policy as order mail (sent;
 * failed at once on a 5xx; else tried again, later and later, for up to `retryForMs`).
 *
 * @param owed The notification and the attempts before this one (`attempts: 0` for a first try).
 * @param attempt What this attempt got.
 * @param now The clock.
 * @param policy How long and how often to retry.
 * @param random A number in [0, 1). @default Math.random()
 * @returns The `PurchaseMailed` to publish, or the next `PurchaseMailRetry`.
 *
 * @example
 * ```ts
 * import { afterPurchaseAttempt } from "./purchase_mail.ts";
 * const notification = {
 *   v: 1, type: "PurchaseNotified", id: "p1", kind: "short", to: "ana@mail.com",
 *   subject: "Gracias", text: "…", folio: "F-9", source: { partition: 0, offset: "4" },
 *   at: "2026-01-01T00:00:00.000Z",
 * } as const;
 * const out = afterPurchaseAttempt(
 *   { notification, attempts: 0 }, { ok: true }, new Date(), { retryForMs: 60_000, maxDelayMs: 10_000 },
 * );
 * out.kind; // "mailed"
 * ```
 */
export function afterPurchaseAttempt(
  owed: Pick<PurchaseMailRetry, "notification" | "attempts"> & { firstAttemptAt?: string },
  attempt: Attempt,
  now: Date,
  policy: RetryPolicy,
  random: number = Math.random(),
): AfterPurchaseAttempt {
  const n = owed.notification;
  const step = nextStep(owed, attempt, now, policy, random);
  if (step.kind === "retry") {
    return {
      kind: "retry",
      record: {
        v: 1,
        type: "PurchaseMailRetry",
        notification: n,
        attempts: step.attempts,
        firstAttemptAt: step.firstAttemptAt,
        dueAt: step.dueAt,
        lastError: withoutAddress(step.lastError, n.to),
      },
    };
  }
  return {
    kind: "mailed",
    record: {
      v: 1,
      type: "PurchaseMailed",
      id: n.id,
      folio: n.folio,
      kind: n.kind,
      messageId: purchaseMessageId(n.id, n.folio),
      status: step.status,
      attempts: step.attempts,
      ...(step.status === "failed" ? { error: withoutAddress(step.error, n.to) } : {}),
      at: step.at,
    },
  };
}
