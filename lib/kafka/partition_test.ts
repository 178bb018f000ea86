import assert from "node:assert/strict";
import { compatibilityPartitioner } from "@platformatic/kafka";
import { Partitioners } from "kafkajs";
import { partitionOf } from "./partition.ts";

/**
 * Fixed keys (every length mod 4, ASCII and not, like the ids Despacho writes) and their partitions
 * for 3, 6, 8, 12 and 100 partitions, as kafkajs 2.2.4's DefaultPartitioner chose them when this
 * table was written (a one-off script calling it with each key and count). Written down rather
 * than only compared live, so a change in either library, or in partitionOf, shows here.
 */
const known: [key: string, ...partitions: number[]][] = [
  ["", 0, 3, 1, 9, 81],
  ["a", 1, 4, 4, 4, 24],
  ["ab", 2, 2, 2, 2, 34],
  ["abc", 0, 3, 3, 3, 7],
  ["abcd", 2, 2, 4, 8, 0],
  ["ñandú", 1, 4, 4, 4, 24],
  ["注文", 0, 3, 7, 3, 11],
  ["order-1", 1, 4, 6, 10, 26],
  ["order-2", 0, 3, 3, 3, 43],
  ["ORD-2026-000123", 2, 2, 4, 8, 84],
  ["c0a80001-7d1e-4c8a-9b3f-2f6e1d9a4b5c", 0, 3, 5, 9, 81],
];
const counts = [3, 6, 8, 12, 100];

/** More fixed keys of lengths 7 to 19, for the comparison with both libraries. */
const keys = [
  ...known.map(([key]) => key),
  ...Array.from({ length: 500 }, (_, i) => `order-${i}-${"0123456789abcdef".slice(0, i % 13)}`),
];

Deno.test("partitionOf() gives the partitions kafkajs's DefaultPartitioner gave for fixed keys", () => {
  for (const [key, ...partitions] of known) {
    assert.deepEqual(counts.map((n) => partitionOf(key, n)), partitions, `key "${key}"`);
  }
});

Deno.test("partitionOf() chooses the partition each client library writes a keyed record to", async (t) => {
  for (const partitions of [1, ...counts]) {
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
