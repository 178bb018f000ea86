import { createLogger } from "../../log.ts";
import { sendCases } from "./_send_cases.ts";
import { kafkajsTransactional } from "./transactional.ts";

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
    } finally {
      await loop.stop();
    }
  });
});
