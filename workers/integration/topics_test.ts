import assert from "node:assert/strict";
import type { TopicDef } from "../../lib/kafka/mod.ts";
import { testBrokers, testKafka, uniqueName } from "../../infra/testing.ts";

Deno.test({
  name: "ensureTopics() called by several processes at once leaves every caller able to read",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const brokers = await testBrokers();
    const prefix = uniqueName("race");
    const defs: TopicDef[] = ["a", "b", "c"].map((t) => ({
      name: `${prefix}-${t}`,
      partitions: 5,
      replicationFactor: 1,
    }));
    // Four roles starting together on a fresh cluster, as `deno task start` does.
    const callers = Array.from({ length: 4 }, () => testKafka(brokers));
    const created = await Promise.all(callers.map(async (kafka) => {
      try {
        const mine = await kafka.ensureTopics(defs, { timeoutMs: 60_000 });
        const reader = kafka.reader({ topics: defs.map((d) => d.name), onBatch: () => {} });
        await reader.ready;
        await reader.stop();
        return mine;
      } finally {
        await kafka.close();
      }
    }));
    // Each topic was created by exactly one caller.
    assert.deepEqual(created.flat().sort(), defs.map((d) => d.name).sort());
  },
});
