/**
 * The notification role, as its own process, against a real SMTP server with STARTTLS and a
 * required login, on the real broker: with a wrong password the mail waits (on the retry topic),
 * the role says so (log, metric, `/readyz`), nothing is published as failed; once the password
 * file is corrected and the role restarted, every mail is delivered once. No password appears in
 * anything the role wrote or served.
 */
import assert from "node:assert/strict";
import { type Proc, spawnDeno } from "../../infra/process.ts";
import { startSmtp } from "../../infra/smtp.ts";
import {
  processFlags,
  produce,
  readTopic,
  testBrokers,
  testClientName,
  topicEnv,
  uniqueName,
  until,
} from "../../infra/testing.ts";
import type { OrderTransition } from "../../lib/order.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const FLAGS = processFlags();
const USER = "despacho";
const PASSWORD = "Right-horse-battery-4e8b";
const WRONG = "Wrong-staple-0a7c";
/** Every form a password could leak in: as is, and base64 as AUTH PLAIN and LOGIN send it. */
const LEAKS = [PASSWORD, WRONG, btoa(PASSWORD), btoa(WRONG), btoa(`\0${USER}\0${PASSWORD}`)];

function transition(i: number): OrderTransition {
  const at = new Date().toISOString();
  return {
    v: 1,
    type: "OrderTransition",
    id: `smtp-login-${i}`,
    order: { name: `Pedido${i}`, price: 1000 + i, email: `cliente${i}@example.cl` },
    state: "recibido",
    seq: 1,
    at,
    requestedAt: at,
    next: null,
  };
}

Deno.test({
  name:
    "notification role: with a wrong SMTP password mail waits and the role is not ready; with the password file corrected and the role restarted every mail is delivered once, no password anywhere",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const brokers = await testBrokers();
    const smtp = await startSmtp({ tls: "starttls", login: { user: USER, password: PASSWORD } });
    const dir = await Deno.makeTempDir({ prefix: "despacho-smtp-login-" });
    const passwordFile = `${dir}/smtp_password`;
    await Deno.writeTextFile(passwordFile, `${WRONG}\n`);
    const env = {
      KAFKA_BROKERS: brokers,
      KAFKA_CLIENT: testClientName(),
      ...topicEnv(uniqueName("smtplogin")),
      TOPIC_PARTITIONS: "2",
      INSTANCE_ID: "smtp-login",
      SMTP_URL: smtp.url,
      SMTP_USER: USER,
      SMTP_PASSWORD_FILE: passwordFile,
      SMTP_CA_FILE: smtp.caFile!,
      MAIL_RETRY_MAX_DELAY_MS: "500",
      METRICS_PORT: "0",
      LOG_LEVEL: "debug",
    };
    const leaks = Object.fromEntries(
      LEAKS.map((s, i) => [`leak${i}`, new RegExp(RegExp.escape(s))]),
    );
    const start = async () => {
      const proc = await spawnDeno(
        "notification",
        ["run", ...FLAGS, MAIN, "--role", "notification"],
        env,
        /"serving metrics"/,
        { counts: { ...leaks, notifying: /"notifying customers"/, refused: /smtp_login_refused/ } },
      );
      const url = proc.tail().match(/"url":"(http:\/\/[^"]+)\/metrics"/)?.[1];
      assert.ok(url, proc.tail());
      await until(
        "the role to consume",
        () => Promise.resolve(proc.counted("notifying") || undefined),
      );
      return { proc, url };
    };
    const served: string[] = [];
    const get = async (url: string) => {
      const res = await fetch(url);
      const text = await res.text();
      served.push(text);
      return { status: res.status, text };
    };
    const procs: Proc[] = [];
    try {
      const first = await start();
      procs.push(first.proc);
      const orders = [0, 1, 2].map(transition);
      await produce(
        brokers,
        orders.map((t) => ({
          topic: env.TOPIC_ORDER_PROCESSING,
          key: t.id,
          value: JSON.stringify(t),
        })),
      );
      // The login is refused: the role is not ready, says why, counts it, and keeps the mail.
      const ready = await until("/readyz to say the SMTP login is refused", async () => {
        const r = await get(`${first.url}/readyz`);
        return r.status === 503 ? r : undefined;
      });
      assert.match(
        JSON.parse(ready.text).problems.smtp,
        /refused our login: check SMTP_USER and SMTP_PASSWORD/,
      );
      const metrics = await until("the refusals to be counted", async () => {
        const m = (await get(`${first.url}/metrics`)).text;
        const n = Number(
          m.match(/despacho_smtp_configuration_errors_total\{reason="smtp_login_refused"\} (\d+)/)
            ?.[1] ?? 0,
        );
        return n >= 6 ? n : undefined; // each mail refused at least twice: retried, not dropped
      });
      assert.ok(metrics >= 6);
      assert.ok(first.proc.counted("refused") >= 1, "the refusal is logged");
      assert.equal(smtp.mails.length, 0);
      assert.ok(smtp.logins.length > 0 && smtp.logins.every((l) => !l.accepted && l.secure));
      const retries = await readTopic(brokers, env.TOPIC_MAIL_RETRIES, 3, 10_000, 0);
      assert.ok(retries.length >= 3, "the mails wait on the retry topic");
      assert.deepEqual(
        await readTopic(brokers, env.TOPIC_ORDER_NOTIFICATIONS, 1, 3_000, 0),
        [],
        "nothing published as failed (or sent)",
      );

      // The password is corrected where it is kept, and the role restarted to read it.
      await Deno.writeTextFile(passwordFile, `${PASSWORD}\n`);
      await first.proc.stop();
      const second = await start();
      procs.push(second.proc);
      const outcomes = await until("every mail to be delivered", async () => {
        const records = await readTopic(brokers, env.TOPIC_ORDER_NOTIFICATIONS, 3, 5_000, 500);
        return records.length >= 3 ? records : undefined;
      }, 120_000);
      const notified = outcomes.map((r) => JSON.parse(r.value));
      assert.deepEqual(
        notified.map((n) => [n.id, n.status]).sort(),
        orders.map((t) => [t.id, "sent"]),
        "one outcome per mail, sent",
      );
      assert.ok(notified.every((n) => n.attempts > 1), "each waited and was tried again");
      assert.deepEqual(
        smtp.mails.map((m) => m.messageId).sort(),
        orders.map((t) => `<${t.id}.recibido@despacho.local>`),
        "each mail delivered exactly once",
      );
      assert.ok(smtp.mails.every((m) => m.secure), "over TLS");
      const readyAgain = await get(`${second.url}/readyz`);
      assert.equal(readyAgain.status, 200, readyAgain.text);

      for (const proc of procs) {
        for (const name of Object.keys(leaks)) {
          assert.equal(proc.counted(name), 0, `${proc.name} logged a password (${name})`);
        }
      }
      for (const text of served) {
        for (const leak of LEAKS) assert.ok(!text.includes(leak), `a password served: ${text}`);
      }
    } finally {
      for (const proc of procs) await proc.stop();
      await smtp.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
