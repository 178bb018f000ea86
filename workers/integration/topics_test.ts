import assert from "node:assert/strict";
import { ensureTopics, type TopicDef } from "../../lib/topics.ts";
import { testBrokers, testKafka, uniqueName } from "../../infra/testing.ts";

Deno.test({
  name: "ensureTopics() called by several processes at once leaves every caller able to subscribe",
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
      const admin = kafka.admin();
      await admin.connect();
      try {
        const mine = await ensureTopics(admin, defs);
        const consumer = kafka.consumer({ groupId: uniqueName("race-group") });
        await consumer.connect();
        await consumer.subscribe({ topics: defs.map((d) => d.name) });
        await consumer.disconnect();
        return mine;
      } finally {
        await admin.disconnect();
      }
    }));
    // Each topic was created by exactly one caller.
    assert.deepEqual(created.flat().sort(), defs.map((d) => d.name).sort());
  },
});
