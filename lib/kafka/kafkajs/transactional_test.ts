import assert from "node:assert/strict";
import { createLogger } from "../../log.ts";
import { sendCases } from "./_send_cases.ts";
import { kafkajsTransactional } from "./transactional.ts";
import { knownPartitioner } from "./producer.ts";

Deno.test("kafkajsTransactional() sends one topic-partition per sendBatch call of a transaction", async (t) => {
  await sendCases(t, async (fake, records) => {
    const loop = kafkajsTransactional(
      fake.kafka,
      {
        groupId: "g",
        transactionalId: "tx",
        instanceId: "i",
        topics: ["in"],
        handle: () => Promise.resolve(),
        log: createLogger("test", "error"),
      },
      1_000,
      fake.counts,
    );
    await loop.ready;
    try {
      await loop.publish(records);
      // Partitions from the adapter's counts may be newer than the producer's metadata.
      assert.ok(fake.producers.length > 0);
      assert.ok(fake.producers.every((o) => o.createPartitioner === knownPartitioner));
    } finally {
      await loop.stop();
    }
  });
});
