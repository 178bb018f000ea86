import assert from "node:assert/strict";
import { createLogger } from "../../lib/log.ts";
import { spawnDeno } from "../../infra/process.ts";
import {
  produce,
  readTopic,
  testBrokers,
  testClientName,
  testKafka,
  uniqueName,
} from "../../infra/testing.ts";

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
    { KAFKA_CLIENT: testClientName() },
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
    await kafka.ensureTopics([
      { name: input, partitions: 3, replicationFactor: 1 },
      { name: output, partitions: 3, replicationFactor: 1 },
    ], { timeoutMs: 60_000 });
    await kafka.close();
    const args = [brokers, input, output, uniqueName("echo-group"), uniqueName("echo-tx")];
    const total = 1500;
    let echo = await startEcho(args);
    try {
      for (let sent = 0; sent < total; sent += 50) {
        const messages = Array.from(
          { length: 50 },
          (_, i) => ({ topic: input, key: `k${sent + i}`, value: String(sent + i) }),
        );
        await produce(brokers, messages);
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
    }
  },
});

Deno.test({
  name:
    "runTransactional() reads again the records a handler returned without committing, before any later record",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const brokers = await testBrokers();
    const input = uniqueName("skip-in");
    const output = uniqueName("skip-out");
    const kafka = testKafka(brokers);
    try {
      await kafka.ensureTopics([
        { name: input, partitions: 1, replicationFactor: 1 },
        { name: output, partitions: 1, replicationFactor: 1 },
      ], { timeoutMs: 60_000 });
      await produce(
        brokers,
        Array.from({ length: 5 }, (_, i) => ({ topic: input, key: `k${i}`, value: String(i) })),
      );
      // The first batch is left without a commit (as a role does when its state was dropped):
      // its records must come back, not be passed over by the next batch's commit.
      const batches: string[][] = [];
      const loop = kafka.runTransactional({
        groupId: uniqueName("skip-group"),
        transactionalId: uniqueName("skip-tx"),
        instanceId: uniqueName("skip"),
        topics: [input],
        log: createLogger("test", "error", () => {}),
        handle: async (batch, ctx) => {
          const values = batch.records.map((r) => new TextDecoder().decode(r.value!));
          batches.push(values);
          if (batches.length === 1) return;
          await ctx.commit(
            values.map((v) => ({ topic: output, key: v, value: v })),
            batch.records.at(-1)!.offset,
          );
        },
      });
      try {
        await loop.ready;
        const records = await readTopic(brokers, output, 5, 60_000);
        assert.deepEqual(records.map((r) => r.value), ["0", "1", "2", "3", "4"]);
        assert.equal(batches[1]![0], batches[0]![0], "the uncommitted batch was read again");
      } finally {
        await loop.stop();
      }
    } finally {
      await kafka.close();
    }
  },
});
