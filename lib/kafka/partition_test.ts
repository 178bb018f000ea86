import assert from "node:assert/strict";
import { compatibilityPartitioner } from "@platformatic/kafka";
import { Partitioners } from "kafkajs";
import { partitionOf } from "./partition.ts";

/** Keys of every length mod 4, ASCII and not, like the ids and keys Despacho writes. */
const keys = [
  "",
  "a",
  "ab",
  "abc",
  "abcd",
  "ñandú",
  "注文",
  ...Array.from({ length: 500 }, (_, i) => `order-${i}-${crypto.randomUUID().slice(0, i % 13)}`),
];

Deno.test("partitionOf() chooses the partition each client library writes a keyed record to", async (t) => {
  for (const partitions of [1, 3, 8, 12, 100]) {
    await t.step(`${partitions} partitions`, () => {
      const kafkajs = Partitioners.DefaultPartitioner();
      const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({
        partitionErrorCode: 0,
        partitionId: i,
        leader: 1,
        replicas: [1],
        isr: [1],
        offlineReplicas: [],
      }));
      for (const key of keys) {
        const platformatic =
          compatibilityPartitioner({ topic: "t", key, value: "" }, Buffer.from(key)) % partitions;
        const viaKafkajs = kafkajs({ topic: "t", partitionMetadata, message: { key, value: "" } });
        assert.equal(partitionOf(key, partitions), platformatic, `platformatic, key "${key}"`);
        assert.equal(partitionOf(key, partitions), viaKafkajs, `kafkajs, key "${key}"`);
      }
    });
  }
});

Deno.test("partitionOf() refuses a partition count that is not a whole number >= 1", () => {
  assert.throws(() => partitionOf("a", 0), {
    name: "RangeError",
    message:
      "Cannot choose a partition: the partition count must be a whole number >= 1: current value is 0",
  });
});
