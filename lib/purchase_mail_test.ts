import assert from "node:assert/strict";
import { nextStep } from "./mail_delivery.ts";
import type { PurchaseNotified } from "./purchase.ts";
import {
  afterPurchaseAttempt,
  purchaseMail,
  PurchaseMailedSchema,
  PurchaseMailRetrySchema,
} from "./purchase_mail.ts";
import { withoutAddress } from "./mail_delivery.ts";

const notification: PurchaseNotified = {
  v: 1,
  type: "PurchaseNotified",
  id: "6b28427ff85faa10eb5321dc",
  kind: "long",
  to: "José.Pérez@mail.com",
  subject: "¿Tuviste problemas con tu compra? (folio F-77)",
  text: "Estimad@ José, …",
  folio: "F-77",
  source: { partition: 2, offset: "41" },
  at: "2026-01-01T00:00:00.000Z",
};
const policy = { retryForMs: 3_600_000, maxDelayMs: 60_000 };
const t0 = new Date("2026-01-01T00:00:01.000Z");
const smtp = (code: number, message: string) =>
  Object.assign(new Error(message), { responseCode: code });

Deno.test("purchaseMail() keeps the notification's words and the Message-ID of today's mails", () => {
  assert.deepEqual(purchaseMail(notification), {
    to: "José.Pérez@mail.com",
    subject: notification.subject,
    text: notification.text,
    messageId: "<6b28427ff85faa10eb5321dc.F-77@despacho.local>",
  });
});

Deno.test("afterPurchaseAttempt() publishes sent, with no address, name or text", () => {
  const out = afterPurchaseAttempt(
    { notification, attempts: 3, firstAttemptAt: "2026-01-01T00:00:00.000Z" },
    { ok: true },
    t0,
    policy,
  );
  assert.deepEqual(out, {
    kind: "mailed",
    record: {
      v: 1,
      type: "PurchaseMailed",
      id: "6b28427ff85faa10eb5321dc",
      folio: "F-77",
      kind: "long",
      messageId: "<6b28427ff85faa10eb5321dc.F-77@despacho.local>",
      status: "sent",
      attempts: 4,
      at: t0.toISOString(),
    },
  });
  assert.ok(PurchaseMailedSchema.safeParse(out.record).success);
  assert.doesNotMatch(JSON.stringify(out.record), /José|Pérez|mail\.com|Estimad/);
});

Deno.test("afterPurchaseAttempt() fails a permanent refusal at once, the address taken out of its reason", () => {
  const refusal = smtp(550, "Recipient command failed: 550 <josé.pérez@MAIL.com>: no such user");
  const out = afterPurchaseAttempt(
    { notification, attempts: 0 },
    { ok: false, error: refusal },
    t0,
    policy,
  );
  assert.equal(out.kind, "mailed");
  assert.deepEqual(out.record.type === "PurchaseMailed" && out.record, {
    v: 1,
    type: "PurchaseMailed",
    id: notification.id,
    folio: "F-77",
    kind: "long",
    messageId: "<6b28427ff85faa10eb5321dc.F-77@despacho.local>",
    status: "failed",
    attempts: 1,
    error: "Recipient command failed: 550 <<recipient>>: no such user",
    at: t0.toISOString(),
  });
});

Deno.test("afterPurchaseAttempt() keeps a temporary refusal owed, as order mail does, until retryForMs", () => {
  let owed: Parameters<typeof afterPurchaseAttempt>[0] = { notification, attempts: 0 };
  let now = t0;
  const refusal = smtp(451, "451 mailbox of José.Pérez@mail.com busy");
  for (let i = 0; i < 100; i++) {
    const out = afterPurchaseAttempt(owed, { ok: false, error: refusal }, now, policy, 0.5);
    // The same schedule as any mail: nextStep decides, this only shapes the records.
    const step = nextStep(owed, { ok: false, error: refusal }, now, policy, 0.5);
    if (out.kind === "mailed") {
      assert.equal(step.kind, "done");
      assert.equal(out.record.status, "failed");
      assert.equal(out.record.error, "451 mailbox of <recipient> busy");
      assert.ok(Date.parse(out.record.at) - t0.getTime() <= policy.retryForMs);
      assert.ok(out.record.attempts > 10, `tried ${out.record.attempts} times`);
      return;
    }
    assert.equal(step.kind === "retry" && step.dueAt, out.record.dueAt);
    assert.ok(PurchaseMailRetrySchema.safeParse(out.record).success);
    assert.equal(out.record.notification, notification, "the whole notification is carried");
    assert.equal(out.record.firstAttemptAt, t0.toISOString());
    assert.equal(out.record.lastError, "451 mailbox of <recipient> busy");
    owed = out.record;
    now = new Date(out.record.dueAt);
  }
  assert.fail("never gave up");
});

Deno.test("withoutAddress() replaces the address in any case, and leaves other text alone", async (t) => {
  const cases: [string, string, string][] = [
    ["exact", "550 <ana@mail.com> unknown", "550 <<recipient>> unknown"],
    ["other case", "550 ANA@MAIL.COM unknown", "550 <recipient> unknown"],
    ["twice", "ana@mail.com, ana@mail.com", "<recipient>, <recipient>"],
    ["absent", "451 try again later", "451 try again later"],
    ["dot is not a wildcard", "anaXmail@mailXcom", "anaXmail@mailXcom"],
  ];
  for (const [name, text, want] of cases) {
    await t.step(name, () => assert.equal(withoutAddress(text, "ana@mail.com"), want));
  }
  await t.step("an address with regular-expression characters", () => {
    assert.equal(withoutAddress("550 a+b(c)@x.cl no", "a+b(c)@x.cl"), "550 <recipient> no");
  });
});
