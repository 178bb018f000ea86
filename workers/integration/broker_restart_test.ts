import assert from "node:assert/strict";
import { ACCESS_ENV } from "../../infra/test_access.ts";
import { startKafka } from "../../infra/kafka.ts";
import { type Proc, spawnDeno } from "../../infra/process.ts";
import { startSmtp } from "../../infra/smtp.ts";
import {
  processFlags,
  produce,
  readTopic,
  testClientName,
  topicEnv,
  uniqueName,
  until,
} from "../../infra/testing.ts";
import { generatePurchases, readWords } from "../../datasets/purchases.ts";
import type { Purchase } from "../../lib/purchase.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const GATEWAY = new URL("../../gateway/main.ts", import.meta.url).pathname;
const FLAGS = processFlags();

/**
 * Publishes purchase events straight to their topic with an idempotent producer: a `503` from
 * the gateway's `POST /purchases` may still have written the batch, so re-posting could count
 * events twice for no fault of the role this test is about.
 */
function publishPurchases(brokers: string, topic: string, events: readonly Purchase[]) {
  return produce(brokers, events.map((e) => ({ topic, key: e.id, value: JSON.stringify(e) })));
}

/** The events the analytics role's latest totals count, summed over partitions. */
async function countedEvents(brokers: string, topic: string): Promise<number> {
  const latest = new Map<number, number>();
  for (const r of await readTopic(brokers, topic, Number.MAX_SAFE_INTEGER, 3_000)) {
    const v = JSON.parse(r.value);
    if (v.type === "PurchaseTotals") latest.set(v.partition, v.stats.events);
  }
  return [...latest.values()].reduce((a, b) => a + b, 0);
}

async function post(url: string, i: number): Promise<
  { status: number; id?: string; retryAfter?: string | null; type?: string | null; ms: number }
> {
  const started = Date.now();
  try {
    const res = await fetch(`${url}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: `Reinicio${i}`, price: 1000 + i, email: `r${i}@example.cl` }),
    });
    const body = await res.json();
    return {
      status: res.status,
      id: body.id,
      retryAfter: res.headers.get("retry-after"),
      type: res.headers.get("content-type"),
      ms: Date.now() - started,
    };
  } catch {
    return { status: 0, ms: Date.now() - started };
  }
}

Deno.test({
  name:
    "every role survives a broker kill -9 and restart: no process exits, every accepted order reaches finalizado with its mails delivered over SMTP, every purchase event is counted once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // A broker of its own: this test kills it.
    const dataDir = await Deno.makeTempDir({ prefix: "despacho-restart-kafka-" });
    const kafka = await startKafka({ port: 0, dataDir, say: () => {}, memoryData: true });
    const smtp = await startSmtp();
    const env = {
      KAFKA_BROKERS: kafka.brokers,
      KAFKA_CLIENT: testClientName(),
      KAFKA_SESSION_TIMEOUT_MS: "10000",
      KAFKA_ACK_TIMEOUT_MS: "2000",
      ...topicEnv(uniqueName("restart")),
      ...ACCESS_ENV,
      TOPIC_PARTITIONS: "2",
      STAGE_DWELL_MS: "0",
      // 25 orders and their retries from one address while the broker is down: not a rate test.
      ORDER_RATE_PER_S: "0",
      SMTP_URL: smtp.url,
      ANALYTICS_WINDOW_MS: "10000",
      ANALYTICS_IDLE_MS: "2000",
      PURCHASE_CONSOLE: "off",
      LOG_LEVEL: "warn",
    };
    const purchases = generatePurchases(await readWords(), {
      count: 200,
      seed: 11,
      startMs: Date.UTC(2026, 10, 25, 12),
      intervalMs: 100,
    });
    const port = String(20_000 + Math.floor(Math.random() * 20_000));
    const procs: Proc[] = [];
    try {
      procs.push(
        await spawnDeno(
          "gateway",
          ["run", ...FLAGS, GATEWAY],
          { ...env, PORT: port, LOG_LEVEL: "info" },
          /"listening"/,
        ),
      );
      for (const role of ["processing", "notification", "purchase-analytics"]) {
        procs.push(
          await spawnDeno(
            role,
            ["run", ...FLAGS, MAIN, "--role", role],
            { ...env, INSTANCE_ID: `restart-${role}`, LOG_LEVEL: "info" },
            /"(processing orders|notifying customers|analysing purchases)"/,
          ),
        );
      }
      const url = `http://127.0.0.1:${port}`;
      await publishPurchases(kafka.brokers, env.TOPIC_PURCHASES, purchases.slice(0, 100));
      const accepted: string[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await post(url, i);
        assert.equal(r.status, 202);
        accepted.push(r.id!);
      }
      await kafka.nodes[0]!.kill("SIGKILL");
      const during: number[] = [];
      for (let i = 10; i < 15; i++) {
        const r = await post(url, i);
        during.push(r.status);
        if (r.status === 202) accepted.push(r.id!);
        if (r.status === 503) {
          assert.equal(r.retryAfter, "2");
          assert.equal(r.type, "application/problem+json");
        }
        // Never hangs: the ack timeout (2 s) bounds every answer.
        assert.ok(r.ms < 5_000, `answered in ${r.ms} ms`);
        await new Promise((r) => setTimeout(r, 1_000));
      }
      assert.ok(during.every((s) => s === 202 || s === 503), `only 202 or 503: ${during}`);
      assert.ok(during.includes(503), "the outage was noticed");
      const ready = await fetch(`${url}/readyz`);
      assert.equal(ready.status, 503, "not ready while the broker is down");
      await ready.body?.cancel();
      await kafka.nodes[0]!.start();
      // After the restart the gateway takes orders again by itself.
      for (let i = 15; i < 25; i++) {
        for (let tries = 0;; tries++) {
          const r = await post(url, i);
          if (r.status === 202) {
            accepted.push(r.id!);
            break;
          }
          assert.ok(tries < 120, `order ${i} accepted within 2 minutes of the restart`);
          await new Promise((r) => setTimeout(r, 1_000));
        }
      }
      await publishPurchases(kafka.brokers, env.TOPIC_PURCHASES, purchases.slice(100));
      const notified = await readTopic(
        kafka.brokers,
        env.TOPIC_ORDER_NOTIFICATIONS,
        accepted.length * 4,
        180_000,
      );
      const byOrder = new Map<string, Set<string>>();
      for (const n of notified) {
        const v = JSON.parse(n.value);
        byOrder.set(v.id, (byOrder.get(v.id) ?? new Set()).add(v.state));
      }
      const missing = accepted.filter((id) => byOrder.get(id)?.size !== 4);
      assert.deepEqual(missing, [], "every accepted order finalized with four mails");
      // The mails themselves reached the SMTP server: four distinct messages per order.
      const mailed = accepted.filter((id) =>
        new Set(
          smtp.mails.filter((m) => m.messageId?.startsWith(`<${id}.`)).map((m) => m.messageId),
        )
          .size !== 4
      );
      assert.deepEqual(mailed, [], "four mails delivered per accepted order");
      // Every purchase event, before the kill and after the restart, is counted once.
      const counted = await until(
        "the analytics totals to count every purchase event",
        async () => {
          const n = await countedEvents(kafka.brokers, env.TOPIC_PURCHASE_ANALYTICS);
          return n >= purchases.length ? n : undefined;
        },
        120_000,
      ).catch(() => countedEvents(kafka.brokers, env.TOPIC_PURCHASE_ANALYTICS));
      assert.equal(counted, purchases.length, "every purchase event counted once");
      for (const p of procs) {
        const exited = await Promise.race([
          p.child.status.then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 10)),
        ]);
        assert.equal(exited, false, `${p.name} is still running: ${p.tail()}`);
      }
    } finally {
      for (const p of procs) await p.stop();
      await smtp.close();
      await kafka.remove();
    }
  },
});
