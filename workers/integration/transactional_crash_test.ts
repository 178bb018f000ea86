import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { readTopic, testBrokers, uniqueName } from "../../infra/testing.ts";

const FIXTURE = new URL("./_echo_role.ts", import.meta.url).pathname;

function startEcho(args: string[]): { child: Deno.ChildProcess; ready: Promise<void> } {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-env",
      "--allow-read",
      "--allow-sys",
      FIXTURE,
      ...args,
    ],
    stdout: "piped",
    stderr: "null",
    stdin: "null",
  }).spawn();
  const ready = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      if (chunk.includes("ready")) return;
    }
    throw new Error("echo role exited before it was ready");
  })();
  return { child, ready };
}

Deno.test({
  name: "runTransactional() publishes each input exactly once across a SIGKILL and restart",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const brokers = await testBrokers();
    const input = uniqueName("echo-in");
    const output = uniqueName("echo-out");
    const kafka = new Kafka({
      clientId: "test",
      brokers: brokers.split(","),
      logLevel: logLevel.NOTHING,
    });
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
    let echo = startEcho(args);
    try {
      await echo.ready;
      for (let sent = 0; sent < total; sent += 50) {
        const messages = Array.from(
          { length: 50 },
          (_, i) => ({ key: `k${sent + i}`, value: String(sent + i) }),
        );
        await producer.send({ topic: input, acks: -1, messages });
        if (sent === 750) {
          echo.child.kill("SIGKILL");
          await echo.child.status;
          echo = startEcho(args);
          await echo.ready;
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
      echo.child.kill("SIGTERM");
      await echo.child.status;
      await producer.disconnect();
    }
  },
});
