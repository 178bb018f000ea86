/**
 * The SMTP mailer against a real SMTP server (npm `smtp-server`) with STARTTLS or implicit TLS, a
 * certificate made for the run and a required login: no Kafka.
 */
import assert from "node:assert/strict";
import { startSmtp, type TestSmtp } from "../infra/smtp.ts";
import { loadConfig } from "../lib/config.ts";
import { createLogger } from "../lib/log.ts";
import { mailFailure } from "../lib/mail_delivery.ts";
import { registry } from "../lib/metrics.ts";
import { Readiness } from "../lib/readiness.ts";
import { createMailer, type Mail } from "./mailer.ts";

const USER = "despacho";
const PASSWORD = "Right-horse-battery-7f3a";
const WRONG = "Wrong-staple-9c1d";
const mail: Mail = {
  to: "cliente@example.cl",
  subject: "Tu pedido",
  text: "Hola",
  messageId: "<o-1.recibido@despacho.local>",
};

/** A mailer built the way a worker builds it: environment → loadConfig (files read there). */
async function mailerFor(smtp: TestSmtp, env: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "despacho-mailer-test-" });
  const password = env.SMTP_PASSWORD;
  const passwordFile = `${dir}/password`;
  if (password !== undefined) await Deno.writeTextFile(passwordFile, `${password}\n`);
  const { SMTP_PASSWORD: _, ...rest } = env;
  const config = loadConfig({
    SMTP_URL: smtp.url,
    ...rest,
    ...(password !== undefined ? { SMTP_PASSWORD_FILE: passwordFile } : {}),
  });
  const lines: string[] = [];
  const health = new Readiness();
  const mailer = await createMailer(
    config,
    createLogger("test", "debug", (l) => lines.push(l)),
    health,
  );
  return {
    mailer,
    health,
    lines,
    close: async () => {
      mailer.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** What the mailer tried: undefined when sent, else the error. */
async function attempt(send: Promise<void>): Promise<unknown> {
  try {
    await send;
    return undefined;
  } catch (error) {
    return error;
  }
}

/** Everything a password could leak into: the mailer's log lines, the error, the metrics. */
async function assertNoSecret(texts: string[], ...secrets: string[]) {
  const all = [...texts, await registry.metrics()].join("\n");
  for (const secret of secrets) {
    assert.ok(!all.includes(secret), `a password appears in: ${all}`);
    // Nor encoded as AUTH PLAIN/LOGIN sends it.
    assert.ok(!all.includes(btoa(secret)), "a base64 password appears");
  }
}

function errorTexts(error: unknown): string[] {
  return [String(error), JSON.stringify(error, Object.getOwnPropertyNames(error ?? {}))];
}

for (const tls of ["starttls", "implicit"] as const) {
  Deno.test(`createMailer() delivers over ${tls} TLS with a login, the server's certificate trusted through SMTP_CA_FILE`, async () => {
    const smtp = await startSmtp({ tls, login: { user: USER, password: PASSWORD } });
    const m = await mailerFor(smtp, {
      SMTP_TLS: tls,
      SMTP_USER: USER,
      SMTP_PASSWORD: PASSWORD,
      SMTP_CA_FILE: smtp.caFile!,
    });
    try {
      await m.mailer.send(mail);
      assert.equal(smtp.mails.length, 1);
      assert.equal(smtp.mails[0]!.messageId, mail.messageId);
      assert.equal(smtp.mails[0]!.secure, true, "the mail went encrypted");
      assert.deepEqual(smtp.logins, [{ user: USER, accepted: true, secure: true }]);
      assert.equal(m.health.ready, true);
      await assertNoSecret(m.lines, PASSWORD);
    } finally {
      await m.close();
      await smtp.close();
    }
  });
}

Deno.test("createMailer() with a wrong password: a configuration failure, reported once, cleared when the login is accepted", async () => {
  const smtp = await startSmtp({ tls: "starttls", login: { user: USER, password: PASSWORD } });
  const m = await mailerFor(smtp, {
    SMTP_USER: USER,
    SMTP_PASSWORD: WRONG,
    SMTP_CA_FILE: smtp.caFile!,
  });
  const counted = async () =>
    (await registry.getSingleMetric("despacho_smtp_configuration_errors_total")!.get())
      .values.find((v) => v.labels.reason === "smtp_login_refused")?.value ?? 0;
  const before = await counted();
  try {
    const errors = [await attempt(m.mailer.send(mail)), await attempt(m.mailer.send(mail))];
    for (const error of errors) {
      assert.deepEqual(mailFailure(error), {
        kind: "configuration",
        reason: "smtp_login_refused",
      });
    }
    assert.equal(smtp.mails.length, 0);
    assert.ok(smtp.logins.length >= 2 && smtp.logins.every((l) => !l.accepted && l.secure));
    assert.equal(await counted() - before, 2, "every refused attempt counted");
    assert.equal(m.health.ready, false);
    assert.match(
      m.health.problems().smtp!,
      /^Cannot send mail to smtp:\/\/127\.0\.0\.1:\d+: the server refused our login: check SMTP_USER and SMTP_PASSWORD$/,
    );
    const reported = m.lines.filter((l) => JSON.parse(l).level === "error");
    assert.equal(reported.length, 1, "said once, not for every mail");
    assert.equal(JSON.parse(reported[0]!).reason, "smtp_login_refused");

    // The account is set to the password we have: the next attempt goes, the problem clears.
    smtp.setLogin({ user: USER, password: WRONG });
    await m.mailer.send(mail);
    assert.equal(smtp.mails.length, 1);
    assert.equal(m.health.ready, true);
    assert.ok(
      m.lines.some((l) => JSON.parse(l).msg.startsWith("SMTP settings accepted again")),
      "the recovery is said",
    );
    await assertNoSecret([...m.lines, ...errors.flatMap(errorTexts)], PASSWORD, WRONG);
  } finally {
    await m.close();
    await smtp.close();
  }
});

for (const tls of ["starttls", "implicit"] as const) {
  Deno.test(`createMailer() refuses a ${tls} server whose certificate it does not trust: nothing sent, not even the login`, async () => {
    const smtp = await startSmtp({ tls, login: { user: USER, password: PASSWORD } });
    // No SMTP_CA_FILE: the system's roots do not know the run's CA.
    const m = await mailerFor(smtp, { SMTP_TLS: tls, SMTP_USER: USER, SMTP_PASSWORD: PASSWORD });
    try {
      const error = await attempt(m.mailer.send(mail));
      assert.deepEqual(mailFailure(error), { kind: "configuration", reason: "smtp_tls_failed" });
      assert.equal(smtp.mails.length, 0);
      assert.deepEqual(smtp.logins, [], "no credentials offered to an untrusted server");
      assert.match(m.health.problems().smtp!, /TLS with the server failed/);
      await assertNoSecret([...m.lines, ...errorTexts(error)], PASSWORD);
    } finally {
      await m.close();
      await smtp.close();
    }
  });
}

Deno.test("createMailer() with STARTTLS required sends nothing to a server that does not offer it", async () => {
  const smtp = await startSmtp(); // plain, no STARTTLS
  const m = await mailerFor(smtp, { SMTP_TLS: "starttls" });
  try {
    const error = await attempt(m.mailer.send(mail));
    assert.deepEqual(mailFailure(error), { kind: "configuration", reason: "smtp_tls_failed" });
    assert.equal(smtp.mails.length, 0, "not sent in clear");
    assert.equal(m.health.ready, false);
  } finally {
    await m.close();
    await smtp.close();
  }
});

Deno.test("createMailer() delivers to an address with accents (the second report's José.Núñez@mail.com) over SMTPUTF8, the address intact", async () => {
  const smtp = await startSmtp();
  const m = await mailerFor(smtp, {});
  try {
    const to = "José.Núñez@mail.com";
    assert.equal(await attempt(m.mailer.send({ ...mail, to })), undefined);
    assert.deepEqual(smtp.mails.map((r) => r.to), [[to]]);
  } finally {
    await m.close();
    await smtp.close();
  }
});
