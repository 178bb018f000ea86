import assert from "node:assert/strict";
import { type Config, loadConfig } from "../../lib/config.ts";
import { createLogger } from "../../lib/log.ts";
import { ORDER_STATES } from "../../lib/order.ts";
import { startGateway } from "../../gateway/server.ts";
import { produce, readTopic, testEnv, until } from "../../infra/testing.ts";
import { run as runNotification } from "../notification.ts";
import { run as runProcessing } from "../processing.ts";
import { startRoles } from "./_roles.ts";
import { startSmtp } from "../../infra/smtp.ts";

const log = createLogger("e2e", "error");

async function orderPipeline(overrides: Record<string, string>) {
  const config: Config = loadConfig(
    await testEnv("orders", {
      TOPIC_PARTITIONS: "3",
      INSTANCE_ID: "e2e",
      PORT: "0",
      // 50 orders at once from 127.0.0.1: a pipeline test, not a rate test (rate_limit_test.ts).
      ORDER_RATE_PER_S: "0",
      ...overrides,
    }),
  );
  const gateway = await startGateway(config, log);
  const roles = startRoles(config, log, {
    processing: runProcessing,
    notification: runNotification,
  });
  return {
    config,
    brokers: config.KAFKA_BROKERS.join(","),
    url: gateway.url,
    async stop() {
      await roles.stop();
      await gateway.stop();
    },
  };
}

Deno.test({
  name:
    "order pipeline: 50 POSTed orders each reach finalizado with four states in order and four distinct mails",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const smtp = await startSmtp();
    const system = await orderPipeline({ STAGE_DWELL_MS: "40", SMTP_URL: smtp.url });
    try {
      const orders = Array.from({ length: 50 }, (_, i) => ({
        name: `Pedido${i}`,
        price: 1000 + i,
        email: `cliente${i}@example.cl`,
      }));
      const ids: string[] = [];
      let stream: Promise<string> | undefined;
      for (const order of orders) {
        const res = await fetch(`${system.url}/orders`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(order),
        });
        assert.equal(res.status, 202);
        const { id } = await res.json();
        assert.equal(res.headers.get("location"), `/orders/${id}`);
        ids.push(id);
        // Right after the 202, the same gateway knows the order.
        const got = await fetch(`${system.url}/orders/${id}`);
        assert.equal(got.status, 200);
        await got.body?.cancel();
        stream ??= fetch(`${system.url}/orders/${id}/events`).then((r) => r.text());
      }

      for (const [i, id] of ids.entries()) {
        const status = await until(`order ${id} to finish`, async () => {
          const body = await (await fetch(`${system.url}/orders/${id}`)).json();
          return body.state === "finalizado" && body.notifications.length === 4 ? body : undefined;
        });
        assert.deepEqual(status.history.map((h: { state: string }) => h.state), [...ORDER_STATES]);
        const times = status.history.map((h: { at: string }) => Date.parse(h.at));
        assert.deepEqual(times, [...times].sort((a, b) => a - b));
        assert.deepEqual(status.order, orders[i]);
        assert.ok(status.notifications.every((n: { status: string }) => n.status === "sent"));
      }

      await until("200 mails", () => Promise.resolve(smtp.mails.length >= 200 ? true : undefined));
      assert.equal(smtp.mails.length, 200);
      const messageIds = new Set(smtp.mails.map((m) => m.messageId));
      assert.equal(messageIds.size, 200);
      for (const [i, id] of ids.entries()) {
        const mine = smtp.mails.filter((m) => m.messageId?.startsWith(`<${id}.`));
        assert.equal(mine.length, 4, `order ${id} got ${mine.length} mails`);
        assert.ok(mine.every((m) => m.to.length === 1 && m.to[0] === orders[i]!.email));
      }

      const events = await stream!;
      const states = [...events.matchAll(/event: state\ndata: (.*)\n/g)].map((m) =>
        JSON.parse(m[1]!).state
      );
      assert.deepEqual(states, [...ORDER_STATES]);
      assert.match(events, /event: end\n/);

      // Exactly four transitions and four notification records per order in Kafka.
      const transitions = await readTopic(
        system.brokers,
        system.config.TOPIC_ORDER_PROCESSING,
        200,
      );
      assert.equal(transitions.length, 200);
      const notified = await readTopic(
        system.brokers,
        system.config.TOPIC_ORDER_NOTIFICATIONS,
        200,
      );
      assert.equal(notified.length, 200);
    } finally {
      await system.stop();
      await smtp.close();
    }
  },
});

Deno.test({
  name:
    "order pipeline: an unparseable request goes to the dead-letter topic and later orders still finish",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const system = await orderPipeline({
      STAGE_DWELL_MS: "0",
      OUTBOX_DIR: await Deno.makeTempDir(),
    });
    try {
      const topic = system.config.TOPIC_ORDER_REQUESTS;
      await produce(system.brokers, [
        { topic, key: "junk", value: "{not json" },
        { topic, key: "wrong", value: JSON.stringify({ v: 1, type: "OrderRequested", id: "x" }) },
      ]);
      const res = await fetch(`${system.url}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "Empanadas", price: 4500, email: "a@b.cl" }),
      });
      const { id } = await res.json();
      await until("the valid order to finish", async () => {
        const body = await (await fetch(`${system.url}/orders/${id}`)).json();
        return body.state === "finalizado" ? true : undefined;
      });
      const letters = await readTopic(system.brokers, system.config.TOPIC_DEAD_LETTER, 2);
      const reasons = letters.map((l) => JSON.parse(l.value)).sort((a, b) =>
        a.key.localeCompare(b.key)
      );
      assert.deepEqual(reasons.map((r) => [r.key, r.source.topic]), [
        ["junk", system.config.TOPIC_ORDER_REQUESTS],
        ["wrong", system.config.TOPIC_ORDER_REQUESTS],
      ]);
      assert.match(reasons[0].reason, /^Cannot parse record: invalid JSON/);
      assert.match(reasons[1].reason, /^Cannot parse record: schema mismatch: order: /);
    } finally {
      await system.stop();
    }
  },
});

Deno.test({
  name: "order pipeline: temporary SMTP failures are retried and every mail is still sent",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const smtp = await startSmtp();
    smtp.failNext(3);
    const system = await orderPipeline({
      STAGE_DWELL_MS: "0",
      SMTP_URL: smtp.url,
      MAIL_RETRY_MAX_DELAY_MS: "500",
    });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${system.url}/orders`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: `Retry${i}`, price: 990, email: `retry${i}@example.cl` }),
        });
        ids.push((await res.json()).id);
      }
      const outcomes = [];
      for (const id of ids) {
        const body = await until(`order ${id} to be notified four times`, async () => {
          const b = await (await fetch(`${system.url}/orders/${id}`)).json();
          return b.notifications.length === 4 ? b : undefined;
        });
        outcomes.push(...body.notifications);
      }
      assert.ok(
        outcomes.every((n: { status: string }) => n.status === "sent"),
        JSON.stringify(outcomes),
      );
      assert.ok(
        outcomes.some((n: { attempts: number }) => n.attempts > 1),
        "some mails needed a retry",
      );
      assert.equal(smtp.mails.length, 20);
    } finally {
      await system.stop();
      await smtp.close();
    }
  },
});

Deno.test({
  name:
    "order pipeline: an SMTP outage (451 for 8 s) delays mail without failing any, and other orders keep moving",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const smtp = await startSmtp();
    const system = await orderPipeline({
      STAGE_DWELL_MS: "0",
      SMTP_URL: smtp.url,
      MAIL_RETRY_MAX_DELAY_MS: "1000",
    });
    const post = async (i: number) => {
      const res = await fetch(`${system.url}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: `Caida${i}`, price: 990, email: `caida${i}@example.cl` }),
      });
      return (await res.json()).id as string;
    };
    try {
      smtp.refuseFor(8_000);
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push(await post(i));
      // During the outage every order still reaches finalizado: processing never waits for mail.
      for (const id of ids) {
        await until(`order ${id} to finish during the outage`, async () => {
          const b = await (await fetch(`${system.url}/orders/${id}`)).json();
          return b.state === "finalizado" ? true : undefined;
        });
      }
      await until(
        "the outage to refuse mail",
        () => Promise.resolve(smtp.refused() > 0 ? true : undefined),
      );
      const outcomes = [];
      for (const id of ids) {
        const body = await until(`order ${id} to be notified four times`, async () => {
          const b = await (await fetch(`${system.url}/orders/${id}`)).json();
          return b.notifications.length === 4 ? b : undefined;
        }, 60_000);
        outcomes.push(...body.notifications);
      }
      const failed = outcomes.filter((n: { status: string }) => n.status !== "sent");
      assert.deepEqual(failed, [], "no mail published as failed");
      assert.ok(outcomes.some((n: { attempts: number }) => n.attempts > 2), "mails were retried");
      const delivered = new Set(smtp.mails.map((m) => m.messageId));
      assert.equal(delivered.size, 80, "every mail delivered once the server is back");
    } finally {
      await system.stop();
      await smtp.close();
    }
  },
});

Deno.test({
  name: "order pipeline: a permanent SMTP refusal (550) is published as failed at once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const smtp = await startSmtp();
    smtp.refuseRecipients(/^nadie@/);
    const system = await orderPipeline({ STAGE_DWELL_MS: "0", SMTP_URL: smtp.url });
    try {
      const res = await fetch(`${system.url}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "Sin casilla", price: 990, email: "nadie@example.cl" }),
      });
      const { id } = await res.json();
      const body = await until(`order ${id} to be notified four times`, async () => {
        const b = await (await fetch(`${system.url}/orders/${id}`)).json();
        return b.notifications.length === 4 ? b : undefined;
      });
      for (const n of body.notifications) {
        assert.equal(n.status, "failed");
        assert.equal(n.attempts, 1, "not retried");
        assert.match(n.error, /\b550\b/);
      }
    } finally {
      await system.stop();
      await smtp.close();
    }
  },
});
