import assert from "node:assert/strict";
import { loadConfig } from "../../lib/config.ts";
import { createLogger } from "../../lib/log.ts";
import { startGateway } from "../../gateway/server.ts";
import { startKafka } from "../../infra/kafka.ts";
import { topicEnv, uniqueName } from "../../infra/testing.ts";

const order = JSON.stringify({
  name: "Completo italiano",
  price: 3500,
  email: "cliente@example.cl",
});
const post = (url: string) =>
  fetch(`${url}/orders`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: order,
  });

Deno.test({
  name:
    "gateway: 503 with Retry-After while its broker is down, and 202 again by itself once it is back",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // A broker of its own: this test stops it.
    const dataDir = await Deno.makeTempDir({ prefix: "despacho-down-kafka-" });
    let kafka = await startKafka({ port: 0, dataDir, say: () => {} });
    const port = Number(kafka.brokers.split(":")[1]);
    const prefix = uniqueName("down");
    const config = loadConfig({
      KAFKA_BROKERS: kafka.brokers,
      ...topicEnv(prefix),
      TOPIC_PARTITIONS: "1",
      KAFKA_ACK_TIMEOUT_MS: "1500",
      PORT: "0",
    });
    const gateway = await startGateway(config, createLogger("test", "error"));
    try {
      const before = await post(gateway.url);
      assert.equal(before.status, 202);
      await before.body?.cancel();

      await kafka.stop();
      const started = Date.now();
      const down = await post(gateway.url);
      assert.equal(down.status, 503);
      assert.equal(down.headers.get("retry-after"), "2");
      assert.equal(down.headers.get("content-type"), "application/problem+json");
      await down.body?.cancel();
      assert.ok(Date.now() - started < 5_000, "answers within the ack timeout, never hangs");
      // A slow acknowledgement alone leaves readiness alone; the failed send (once the client's
      // retries of the lost connection are spent) clears it.
      let readyStatus = 0;
      const notReadyBy = Date.now() + 30_000;
      while (readyStatus !== 503 && Date.now() < notReadyBy) {
        const ready = await fetch(`${gateway.url}/readyz`);
        readyStatus = ready.status;
        await ready.body?.cancel();
        if (readyStatus !== 503) await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(readyStatus, 503, "not ready once the broker is gone");

      kafka = await startKafka({ port, dataDir, say: () => {} });
      let status = 0;
      const deadline = Date.now() + 60_000;
      while (status !== 202 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        const res = await post(gateway.url);
        status = res.status;
        await res.body?.cancel();
      }
      assert.equal(status, 202, "recovered without a restart");
    } finally {
      await gateway.stop();
      await kafka.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
