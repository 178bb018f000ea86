import assert from "node:assert/strict";
import type { OrderRequested } from "../../lib/order.ts";
import { spawnDeno } from "../../infra/process.ts";
import {
  processFlags,
  produce,
  readTopic,
  testBrokers,
  testClientName,
  topicEnv,
  uniqueName,
} from "../../infra/testing.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

const FLAGS = processFlags("nowhere");
const startWorker = (env: Record<string, string>) =>
  spawnDeno(
    "processing",
    ["run", ...FLAGS, MAIN, "--role", "processing"],
    env,
    /"processing orders"/,
  );

Deno.test({
  name: "processing role: SIGKILL mid-flight loses no order and publishes no transition twice",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const brokers = await testBrokers();
    const prefix = uniqueName("crash");
    const env = {
      KAFKA_BROKERS: brokers,
      KAFKA_CLIENT: testClientName(),
      KAFKA_SESSION_TIMEOUT_MS: "10000",
      ...topicEnv(prefix),
      TOPIC_PARTITIONS: "3",
      INSTANCE_ID: "crash-1",
      STAGE_DWELL_MS: "150",
      LOG_LEVEL: "info",
    };
    const total = 200;
    let worker = await startWorker(env);
    try {
      // Orders arrive in waves while the worker runs, so some are in every state when it dies.
      for (let wave = 0; wave < 4; wave++) {
        const messages = Array.from({ length: total / 4 }, (_, i) => {
          const id = `o-${wave}-${i}`;
          const event: OrderRequested = {
            v: 1,
            type: "OrderRequested",
            id,
            order: { name: `Pedido ${id}`, price: 100 + i, email: `${id}@example.cl` },
            requestedAt: new Date().toISOString(),
          };
          return { topic: env.TOPIC_ORDER_REQUESTS, key: id, value: JSON.stringify(event) };
        });
        await produce(brokers, messages);
        await new Promise((r) => setTimeout(r, 100));
      }
      const before = await readTopic(brokers, env.TOPIC_ORDER_PROCESSING, 1, 10_000, 0);
      assert.ok(before.length > 0, "the worker had published transitions before the kill");
      await worker.kill();
      const atKill = await readTopic(brokers, env.TOPIC_ORDER_PROCESSING, total * 4, 2_000, 0);
      assert.ok(atKill.length < total * 4, "orders were still in flight at the kill");

      worker = await startWorker(env);
      const records = await readTopic(brokers, env.TOPIC_ORDER_PROCESSING, total * 4, 60_000);
      const seen = new Map<string, number>();
      for (const r of records) {
        const t = JSON.parse(r.value);
        const key = `${t.id}#${t.seq}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        assert.equal(r.key, t.id, "transitions are keyed by order id");
      }
      const twice = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
      const missing: string[] = [];
      for (let wave = 0; wave < 4; wave++) {
        for (let i = 0; i < total / 4; i++) {
          for (let seq = 1; seq <= 4; seq++) {
            if (!seen.has(`o-${wave}-${i}#${seq}`)) missing.push(`o-${wave}-${i}#${seq}`);
          }
        }
      }
      assert.deepEqual({ twice, missing: missing.slice(0, 10), count: records.length }, {
        twice: [],
        missing: [],
        count: total * 4,
      });
    } finally {
      await worker.stop();
    }
  },
});
