/**
 * Tombstones through the seam, with the client `KAFKA_CLIENT` names: sent by the idempotent
 * producer and by a transactional loop's `publish`, and read back with no value.
 */
import assert from "node:assert/strict";
import { createLogger } from "../../lib/log.ts";
import { testBrokers, testKafka, uniqueName } from "../../infra/testing.ts";

Deno.test({
  name: "a tombstone (value null) is sent as one by the producer and by a transactional loop",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const brokers = await testBrokers();
    const topic = uniqueName("tombstones");
    const input = uniqueName("tombstones-in");
    const kafka = testKafka(brokers);
    try {
      await kafka.ensureTopics(
        [topic, input].map((name) => ({ name, partitions: 1, replicationFactor: 1 })),
        { timeoutMs: 60_000 },
      );
      const producer = kafka.producer();
      await producer.connect();
      try {
        await producer.send([{ topic, key: "a", value: "1" }, { topic, key: "a", value: null }]);
      } finally {
        await producer.close();
      }
      const loop = kafka.runTransactional({
        groupId: uniqueName("tombstones"),
        transactionalId: uniqueName("tombstones-tx"),
        instanceId: uniqueName("tombstones-instance"),
        topics: [input],
        handle: () => Promise.resolve(),
        log: createLogger("test", "error", () => {}),
      });
      try {
        await loop.ready;
        await loop.publish([{ topic, key: "b", value: "2" }, { topic, key: "b", value: null }]);
      } finally {
        await loop.stop();
      }
      const [ends] = await kafka.endOffsets(topic);
      const read: [string | null, string | null][] = [];
      await kafka.readRange(topic, 0, "0", ends!.high, (records) => {
        for (const r of records) {
          read.push([r.key, r.value === null ? null : new TextDecoder().decode(r.value)]);
        }
      });
      assert.deepEqual(read, [["a", "1"], ["a", null], ["b", "2"], ["b", null]]);
    } finally {
      await kafka.close();
    }
  },
});
