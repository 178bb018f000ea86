import assert from "node:assert/strict";
import { startKafka } from "../../infra/kafka.ts";
import { type Proc, spawnDeno } from "../../infra/process.ts";
import { readTopic, testClientName, topicEnv, uniqueName } from "../../infra/testing.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const GATEWAY = new URL("../../gateway/main.ts", import.meta.url).pathname;
const FLAGS = [
  "--allow-net=127.0.0.1",
  "--allow-env",
  "--allow-read",
  "--allow-write",
  "--allow-sys=hostname",
];

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
    "every role survives a broker kill -9 and restart: no process exits, and every accepted order reaches finalizado with its mails",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // A broker of its own: this test kills it.
    const dataDir = await Deno.makeTempDir({ prefix: "despacho-restart-kafka-" });
    const kafka = await startKafka({ port: 0, dataDir, say: () => {}, memoryData: true });
    const env = {
      KAFKA_BROKERS: kafka.brokers,
      KAFKA_CLIENT: testClientName(),
      KAFKA_SESSION_TIMEOUT_MS: "10000",
      KAFKA_ACK_TIMEOUT_MS: "2000",
      ...topicEnv(uniqueName("restart")),
      TOPIC_PARTITIONS: "2",
      STAGE_DWELL_MS: "0",
      OUTBOX_DIR: await Deno.makeTempDir(),
      LOG_LEVEL: "warn",
    };
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
      for (const role of ["processing", "notification"]) {
        procs.push(
          await spawnDeno(
            role,
            ["run", ...FLAGS, MAIN, "--role", role],
            { ...env, INSTANCE_ID: `restart-${role}`, LOG_LEVEL: "info" },
            /"(processing orders|notifying customers)"/,
          ),
        );
      }
      const url = `http://127.0.0.1:${port}`;
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
      for (const p of procs) {
        const exited = await Promise.race([
          p.child.status.then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 10)),
        ]);
        assert.equal(exited, false, `${p.name} is still running: ${p.tail()}`);
      }
    } finally {
      for (const p of procs) await p.stop();
      await kafka.remove();
    }
  },
});
