/**
 * What both kafkajs producers must do with a send, as test steps: run against the idempotent
 * producer (`producer_test.ts`) and the transactional one (`transactional_test.ts`).
 */
import assert from "node:assert/strict";
import type { OutRecord } from "../records.ts";
import { partitionOf } from "../partition.ts";
import { type FakeKafka, fakeKafka, partitionsOfCall } from "./_fake_kafka.ts";

/** Sends `records` through the producer under test, made on `fake`. */
export type SendWith = (fake: FakeKafka, records: readonly OutRecord[]) => Promise<void>;

const rec = (topic: string, key: string, value: string, partition?: number): OutRecord => ({
  topic,
  key,
  value,
  ...(partition === undefined ? {} : { partition }),
});

/**
 * The cases, as `t.step`s.
 *
 * @param t The test's context.
 * @param send The producer under test.
 */
export async function sendCases(t: Deno.TestContext, send: SendWith): Promise<void> {
  // o1, o2, o3, o4 are on partitions 1, 2, 5, 0 of a 6-partition topic.
  const mixed = [
    rec("a", "o1", "o1#1"),
    rec("b", "o2", "b1"),
    rec("a", "o2", "o2#1"),
    rec("a", "o1", "o1#2"),
    rec("a", "o3", "o3#1", 4),
    rec("a", "o2", "o2#2"),
    rec("b", "o4", "b2"),
    rec("a", "o1", "o1#3"),
  ];

  await t.step("no sendBatch call carries more than one topic-partition", async () => {
    const fake = fakeKafka({ a: 6, b: 6 });
    await send(fake, mixed);
    assert.ok(fake.calls.length > 0, "something was sent");
    for (const call of fake.calls) {
      assert.equal(partitionsOfCall(call, fake.partitions).length, 1, JSON.stringify(call));
    }
    assert.equal(fake.calls.flat().length, mixed.length, "every record sent once");
  });

  await t.step("records keep their order per key, partitions in the order first seen", async () => {
    const fake = fakeKafka({ a: 6, b: 6 });
    await send(fake, mixed);
    const sent = fake.calls.flat();
    for (const key of ["o1", "o2"]) {
      assert.deepEqual(
        sent.filter((r) => r.topic === "a" && r.key === key).map((r) => r.value),
        mixed.filter((r) => r.topic === "a" && r.key === key).map((r) => r.value),
      );
    }
    assert.deepEqual(fake.calls.map((c) => partitionsOfCall(c, fake.partitions).join()), [
      "a/1",
      "b/2",
      "a/2",
      "a/4",
      "b/0",
    ]);
  });

  await t.step(
    "a record without a partition is sent to partitionOf(key, count), an explicit one kept",
    async () => {
      const fake = fakeKafka({ a: 6, b: 6 });
      await send(fake, mixed);
      for (const r of fake.calls.flat()) {
        const given = mixed.find((m) => m.topic === r.topic && m.value === r.value)!;
        assert.equal(r.partition, given.partition ?? partitionOf(r.key, 6), r.value ?? "");
      }
    },
  );

  await t.step("a large partition is still sent in requests under the size limit", async () => {
    const fake = fakeKafka({ a: 6 });
    const big = "x".repeat(300 * 1024);
    await send(fake, [rec("a", "o1", big), rec("a", "o1", big), rec("a", "o2", "small")]);
    assert.deepEqual(fake.calls.map((c) => c.length), [1, 1, 1]);
  });

  await t.step(
    "the count is read once, and again when an explicit partition is beyond it",
    async () => {
      const fake = fakeKafka({ a: 6 });
      await send(fake, [rec("a", "o1", "1")]);
      await send(fake, [rec("a", "o2", "2"), rec("a", "o3", "3", 5)]);
      assert.deepEqual(fake.reads, ["a"]);
      // Partitions added: the gateway writes to partition 7 before this adapter knows of it.
      fake.partitions.set("a", 8);
      await send(fake, [rec("a", "o2", "4", 7), rec("a", "o2", "5")]);
      assert.deepEqual(fake.reads, ["a", "a"]);
      // Keyed records now follow the new count, as kafkajs's partitioner would.
      assert.deepEqual(fake.calls.at(-1)?.map((r) => r.partition), [partitionOf("o2", 8)]);
    },
  );

  await t.step(
    "an explicit partition Kafka does not list fails the send, nothing sent",
    async () => {
      const fake = fakeKafka({ a: 6 });
      await send(fake, [rec("a", "o1", "1")]);
      const before = fake.calls.length;
      await assert.rejects(send(fake, [rec("a", "o1", "2"), rec("a", "o1", "3", 9)]), {
        name: "DespachoError",
        code: "KAFKA_UNAVAILABLE",
        retriable: true,
        message: 'Cannot send to partition 9 of topic "a": Kafka lists 6 partitions',
      });
      assert.equal(fake.calls.length, before);
    },
  );
}
