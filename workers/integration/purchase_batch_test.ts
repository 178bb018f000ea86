import assert from "node:assert/strict";
import { ACCESS_ENV, STAFF_HEADERS } from "../../infra/test_access.ts";
import { generatePurchases, readWords } from "../../datasets/purchases.ts";
import { procStat, spawnDeno } from "../../infra/process.ts";
import {
  processFlags,
  readTopic,
  testBrokers,
  testClientName,
  topicEnv,
  uniqueName,
} from "../../infra/testing.ts";

const GATEWAY = new URL("../../gateway/main.ts", import.meta.url).pathname;
// As the gateway task: it writes its order store under .cache and nowhere else.
const FLAGS = processFlags(".cache");

Deno.test({
  name:
    "a large NDJSON batch (10,000 purchase events, 3.5 MB) to the gateway process on the real broker: one 202, /healthz answering meanwhile, every event in the topic once, the gateway's memory bounded",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const brokers = await testBrokers();
    const env = {
      KAFKA_BROKERS: brokers,
      KAFKA_CLIENT: testClientName(),
      ...topicEnv(uniqueName("batch")),
      ...ACCESS_ENV,
      TOPIC_PARTITIONS: "3",
      PORT: String(20_000 + Math.floor(Math.random() * 20_000)),
      MAX_BODY_BYTES: String(8 * 1024 * 1024),
      MAX_BATCH_LINES: "10000",
      LOG_LEVEL: "info",
    };
    const events = generatePurchases(await readWords(), {
      count: 10_000,
      seed: 21,
      startMs: Date.UTC(2026, 10, 25, 15),
      intervalMs: 10,
    });
    const body = events.map((e) => JSON.stringify(e)).join("\n");
    const gateway = await spawnDeno("gateway", ["run", ...FLAGS, GATEWAY], env, /"listening"/);
    try {
      const url = `http://127.0.0.1:${env.PORT}`;
      const started = performance.now();
      let done = false;
      const batch = fetch(`${url}/purchases`, {
        method: "POST",
        headers: { "content-type": "application/x-ndjson", ...STAFF_HEADERS },
        body,
      }).then(async (res) => ({ status: res.status, json: await res.json() }))
        .finally(() => (done = true));
      const health: number[] = [];
      while (!done) {
        const asked = performance.now();
        const res = await fetch(`${url}/healthz`);
        await res.body?.cancel();
        assert.equal(res.status, 200);
        if (!done) health.push(performance.now() - asked);
        await new Promise((r) => setTimeout(r, 20));
      }
      const answer = await batch;
      const elapsed = performance.now() - started;
      assert.equal(answer.status, 202, JSON.stringify(answer.json).slice(0, 300));
      assert.ok(health.length >= 1, "/healthz was asked while the batch ran");
      // Figures, not targets (those live in the bench): said so a reader sees what "quickly" was.
      console.error(
        `10,000 events (${(body.length / 1e6).toFixed(1)} MB): 202 after ${
          elapsed.toFixed(0)
        } ms; ` +
          `/healthz answered ${health.length} times meanwhile, slowest ${
            Math.max(...health).toFixed(0)
          } ms`,
      );
      const peak = (await procStat(gateway.child.pid)).peakRssMiB;
      assert.ok(peak < 512, `gateway peak RSS ${peak.toFixed(0)} MiB (bound 512)`);
      const records = await readTopic(brokers, env.TOPIC_PURCHASES, events.length, 120_000, 2_000);
      const ids = new Map<string, number>();
      for (const r of records) {
        const id = JSON.parse(r.value).id as string;
        ids.set(id, (ids.get(id) ?? 0) + 1);
      }
      assert.equal(ids.size, events.length, "every event in the topic");
      assert.deepEqual([...ids].filter(([, n]) => n > 1), [], "none twice");
    } finally {
      await gateway.stop();
    }
  },
});
