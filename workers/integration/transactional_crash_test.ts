import assert from "node:assert/strict";
import { spawnDeno } from "../../infra/process.ts";
import { readTopic, testBrokers, testKafka, uniqueName } from "../../infra/testing.ts";

const FIXTURE = new URL("./_echo_role.ts", import.meta.url).pathname;

const startEcho = (args: string[]) =>
  spawnDeno(
    "echo",
    [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-env",
      "--allow-read",
      "--allow-sys",
      FIXTURE,
      ...args,
    ],
    {},
    /^ready$/,
  );

Deno.test({
  name: "runTransactional() publishes each input exactly once across a SIGKILL and restart",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const brokers = await testBrokers();
    const input = uniqueName("echo-in");
    const output = uniqueName("echo-out");
    const kafka = testKafka(brokers);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic: input, numPartitions: 3 }, { topic: output, numPartitions: 3 }],
      waitForLeaders: true,
    });
    await admin.disconnect();
    const args = [brokers, input, output, uniqueName("echo-group"), uniqueName("echo-tx")];
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const total = 1500;
    let echo = await startEcho(args);
    try {
      for (let sent = 0; sent < total; sent += 50) {
        const messages = Array.from(
          { length: 50 },
          (_, i) => ({ key: `k${sent + i}`, value: String(sent + i) }),
        );
        await producer.send({ topic: input, acks: -1, messages });
        if (sent === 750) {
          await echo.kill();
          echo = await startEcho(args);
        }
      }
      const records = await readTopic(brokers, output, total, 30_000);
      const counts = new Map<string, number>();
      for (const r of records) counts.set(r.value, (counts.get(r.value) ?? 0) + 1);
      const duplicated = [...counts].filter(([, n]) => n > 1).map(([v]) => v);
      const missing = Array.from({ length: total }, (_, i) => String(i)).filter((v) =>
        !counts.has(v)
      );
      assert.deepEqual({ duplicated, missing, records: records.length }, {
        duplicated: [],
        missing: [],
        records: total,
      });
    } finally {
      await echo.stop();
      await producer.disconnect();
    }
  },
});
