import assert from "node:assert/strict";
import {
  afterAttempt,
  classifyMailFailure,
  type MailFailure,
  mailFailure,
  MailRetrySchema,
} from "./mail_delivery.ts";
import type { OrderTransition } from "./order.ts";

const transition: OrderTransition = {
  v: 1,
  type: "OrderTransition",
  id: "o-1",
  order: { name: "Pizza", price: 12990, email: "cliente@example.cl" },
  state: "preparando",
  seq: 2,
  at: "2026-01-01T00:00:00.000Z",
  requestedAt: "2026-01-01T00:00:00.000Z",
  next: null,
};
const policy = { retryForMs: 3_600_000, maxDelayMs: 60_000 };
const t0 = new Date("2026-01-01T00:00:00.000Z");
const smtp = (code: number) =>
  Object.assign(new Error(`${code} try again`), { responseCode: code });

Deno.test("classifyMailFailure() calls only an SMTP 5xx reply permanent, login and TLS failures aside", async (t) => {
  const cases: [string, unknown, string][] = [
    ["500 syntax error: the first 5xx", smtp(500), "permanent"],
    ["550 no such mailbox", smtp(550), "permanent"],
    ["554 rejected", smtp(554), "permanent"],
    ["599: the last 5xx", smtp(599), "permanent"],
    ["499: the last 4xx", smtp(499), "temporary"],
    ["600: no SMTP reply", smtp(600), "temporary"],
    ["451 try again later", smtp(451), "temporary"],
    ["421 closing", smtp(421), "temporary"],
    [
      "connection refused",
      Object.assign(new Error("connect ECONNREFUSED"), { code: "ESOCKET" }),
      "temporary",
    ],
    ["timeout", Object.assign(new Error("Timeout"), { code: "ETIMEDOUT" }), "temporary"],
    ["not an error", "weird", "temporary"],
    ["535 login refused", nodemailerError("EAUTH", 535), "configuration"],
  ];
  for (const [name, error, want] of cases) {
    await t.step(name, () => assert.equal(classifyMailFailure(error), want));
  }
});

/** An error as nodemailer 10 throws it (the shapes seen on Deno 2.9.6 against npm smtp-server). */
function nodemailerError(code: string, responseCode?: number, originalCode?: string): Error {
  return Object.assign(new Error(`${code} ${responseCode ?? originalCode ?? ""}`), {
    code,
    ...(responseCode === undefined ? {} : { responseCode }),
    ...(originalCode === undefined ? {} : { originalCode }),
  });
}

Deno.test("mailFailure() calls a refused login or a failed TLS our configuration's fault, before any 5xx rule", async (t) => {
  const login: MailFailure = { kind: "configuration", reason: "smtp_login_refused" };
  const tls: MailFailure = { kind: "configuration", reason: "smtp_tls_failed" };
  const cases: [string, unknown, MailFailure][] = [
    ["535 credentials invalid", nodemailerError("EAUTH", 535), login],
    ["534 mechanism too weak", nodemailerError("EAUTH", 534), login],
    ["530 authentication required (at MAIL FROM)", nodemailerError("EENVELOPE", 530), login],
    ["538 encryption required", smtp(538), login],
    ["no credentials for the mechanism", nodemailerError("EAUTH"), login],
    ["no credentials at all", nodemailerError("ENOAUTH"), login],
    ["STARTTLS not offered (500 to STARTTLS)", nodemailerError("ETLS", 500), tls],
    ["STARTTLS handshake failed", nodemailerError("ETLS"), tls],
    [
      "certificate not trusted",
      nodemailerError("ESOCKET", undefined, "UNABLE_TO_VERIFY_LEAF_SIGNATURE"),
      tls,
    ],
    ["self-signed", nodemailerError("ESOCKET", undefined, "DEPTH_ZERO_SELF_SIGNED_CERT"), tls],
    ["expired", nodemailerError("ESOCKET", undefined, "CERT_HAS_EXPIRED"), tls],
    ["another name", nodemailerError("ESOCKET", undefined, "ERR_TLS_CERT_ALTNAME_INVALID"), tls],
    [
      "implicit TLS on a plain port",
      nodemailerError("ESOCKET", undefined, "ERR_SSL_WRONG_VERSION_NUMBER"),
      tls,
    ],
    ["connection refused", nodemailerError("ESOCKET", undefined, "ECONNREFUSED"), {
      kind: "temporary",
    }],
    ["550 no such mailbox", nodemailerError("EENVELOPE", 550), { kind: "permanent" }],
    ["454 TLS not available for now", smtp(454), { kind: "temporary" }],
  ];
  for (const [name, error, want] of cases) {
    await t.step(name, () => assert.deepEqual(mailFailure(error), want));
  }
});

Deno.test("afterAttempt() retries a configuration failure for as long as it lasts, never publishing it as failed", () => {
  const policy = { retryForMs: 60_000, maxDelayMs: 10_000 };
  let retry = { transition, attempts: 0 } as Parameters<typeof afterAttempt>[0];
  let now = t0;
  // A day of a wrong password: far past retryForMs, the mail is still owed.
  while (now.getTime() - t0.getTime() < 86_400_000) {
    const out = afterAttempt(
      retry,
      { ok: false, error: nodemailerError("EAUTH", 535) },
      now,
      policy,
      0.999999,
    );
    assert.equal(out.kind, "retry", `still owed at ${now.toISOString()}`);
    if (out.kind !== "retry") return;
    assert.deepEqual(out.failure, { kind: "configuration", reason: "smtp_login_refused" });
    assert.ok(Date.parse(out.record.dueAt) - now.getTime() <= policy.maxDelayMs);
    now = new Date(out.record.dueAt);
    retry = out.record;
  }
  // Once the password is right, the mail goes.
  const sent = afterAttempt(retry, { ok: true }, now, policy);
  assert.equal(sent.kind === "notified" && sent.record.status, "sent");
});

Deno.test("afterAttempt() publishes sent with the attempts it took", () => {
  const out = afterAttempt(
    { transition, attempts: 2, firstAttemptAt: t0.toISOString() },
    { ok: true },
    t0,
    policy,
  );
  assert.deepEqual(out, {
    kind: "notified",
    record: {
      v: 1,
      type: "OrderNotified",
      id: "o-1",
      state: "preparando",
      to: "cliente@example.cl",
      messageId: "<o-1.preparando@despacho.local>",
      attempts: 3,
      at: t0.toISOString(),
      status: "sent",
    },
  });
});

Deno.test("afterAttempt() publishes a permanent refusal as failed at once", () => {
  const out = afterAttempt(
    { transition, attempts: 0 },
    { ok: false, error: smtp(550) },
    t0,
    policy,
  );
  assert.equal(out.kind, "notified");
  assert.equal(out.record.type === "OrderNotified" && out.record.status, "failed");
  assert.equal(out.record.type === "OrderNotified" && out.record.error, "550 try again");
  assert.equal(out.record.attempts, 1);
});

Deno.test("afterAttempt() retries a temporary failure later and later, up to the cap, until retryForMs", () => {
  let retry = { transition, attempts: 0 } as Parameters<typeof afterAttempt>[0];
  let now = t0;
  const delays: number[] = [];
  for (;;) {
    const out = afterAttempt(retry, { ok: false, error: smtp(451) }, now, policy, 0.999999);
    if (out.kind === "notified") {
      assert.equal(out.record.status, "failed");
      assert.equal(out.record.error, "451 try again");
      break;
    }
    assert.ok(MailRetrySchema.safeParse(out.record).success);
    assert.equal(out.record.firstAttemptAt, t0.toISOString(), "the first attempt's time is kept");
    delays.push(Date.parse(out.record.dueAt) - now.getTime());
    now = new Date(out.record.dueAt);
    retry = out.record;
  }
  // 1 s doubling to the 60 s cap; the retries stop once the next one would be past one hour.
  assert.deepEqual(delays.slice(0, 8), [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
  assert.ok(delays.reduce((a, b) => a + b, 0) <= policy.retryForMs);
  assert.ok(delays.reduce((a, b) => a + b, 0) + 60_000 > policy.retryForMs);
  // Jitter keeps each delay in its upper half.
  const early = afterAttempt(
    { transition, attempts: 3 },
    { ok: false, error: smtp(451) },
    t0,
    policy,
    0,
  );
  assert.equal(early.kind === "retry" && Date.parse(early.record.dueAt) - t0.getTime(), 4000);
});

Deno.test("afterAttempt() still retries when the next try falls on the window's last instant", async (t) => {
  // A first failure waits 1000 ms, into its upper half from 500 ms with random 0: tried at
  // `now`, it is due at now + 500.
  const cases: [string, number, string][] = [
    ["due exactly retryForMs after the first attempt: retried", 500, "retry"],
    ["due 1 ms past the window: failed", 499, "notified"],
  ];
  for (const [name, before, kind] of cases) {
    await t.step(name, () => {
      const now = new Date(t0.getTime() + policy.retryForMs - before);
      const out = afterAttempt(
        { transition, attempts: 0, firstAttemptAt: t0.toISOString() },
        { ok: false, error: smtp(451) },
        now,
        policy,
        0,
      );
      assert.equal(out.kind, kind);
      if (out.kind === "retry") {
        assert.equal(Date.parse(out.record.dueAt), t0.getTime() + policy.retryForMs);
      }
    });
  }
});
