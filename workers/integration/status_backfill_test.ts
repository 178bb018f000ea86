import assert from "node:assert/strict";
import { loadConfig } from "../../lib/config.ts";
import { createLogger } from "../../lib/log.ts";
import { ORDER_STATES, type OrderNotified, type OrderTransition } from "../../lib/order.ts";
import { startGateway } from "../../gateway/server.ts";
import { ACCESS_ENV } from "../../infra/test_access.ts";
import {
  produce,
  testBrokers,
  testClientName,
  topicEnv,
  uniqueName,
  until,
} from "../../infra/testing.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Runs `deno task status:backfill` as an operator would, on `env`; its exit code. */
async function backfill(env: Record<string, string>, args: string[] = []): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "status:backfill", ...args],
    cwd: ROOT,
    env: { ...env, LOG_LEVEL: "error" },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  return out.code;
}

Deno.test({
  name:
    "status:backfill brings orders placed before the status topic into it, once; a running gateway answers them",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const brokers = await testBrokers();
    const env = {
      ...ACCESS_ENV,
      KAFKA_BROKERS: brokers,
      KAFKA_CLIENT: testClientName(),
      ...topicEnv(uniqueName("backfill")),
      TOPIC_PARTITIONS: "2",
      PORT: "0",
    };
    const config = loadConfig(env);
    const gateway = await startGateway(config, createLogger("gateway", "error"));
    try {
      // An order as the roles wrote it before the status topic existed: transitions and mails only.
      const order = { name: "Cazuela", price: 7990, email: "old@example.cl" };
      const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
      const transitions: OrderTransition[] = ORDER_STATES.map((state, i) => ({
        v: 1,
        type: "OrderTransition",
        id: "old-1",
        order,
        state,
        seq: i + 1,
        at: at(i),
        requestedAt: at(0),
        next: null,
      }));
      const mail: OrderNotified = {
        v: 1,
        type: "OrderNotified",
        id: "old-1",
        state: "recibido",
        to: order.email,
        messageId: "<old-1-recibido@despacho>",
        status: "sent",
        attempts: 1,
        at: at(1),
      };
      await produce(brokers, [
        ...transitions.map((t) => ({
          topic: config.TOPIC_ORDER_PROCESSING,
          key: t.id,
          value: JSON.stringify(t),
        })),
        { topic: config.TOPIC_ORDER_NOTIFICATIONS, key: mail.id, value: JSON.stringify(mail) },
      ]);
      assert.equal((await fetch(`${gateway.url}/orders/old-1`)).status, 404);
      assert.equal(await backfill(env), 0);
      const got = await until("the backfilled order at the gateway", async () => {
        const res = await fetch(`${gateway.url}/orders/old-1`);
        const json = await res.json() as {
          state?: string;
          history?: unknown[];
          notifications?: unknown[];
        };
        return res.status === 200 && json.notifications?.length === 1 ? json : undefined;
      }, 30_000);
      assert.equal(got.state, "finalizado");
      assert.equal(got.history?.length, 4);
      // Once: a second run refuses (exit 3) unless forced.
      assert.equal(await backfill(env), 3);
      assert.equal(await backfill(env, ["--force"]), 0);
    } finally {
      await gateway.stop();
    }
  },
});
