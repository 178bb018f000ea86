import assert from "node:assert/strict";
import { ensureKnownPartitions, type MetadataSource } from "./producer.ts";

/** A producer's metadata: `held` partitions per topic now, `fresh` once read again. */
function fakeMetadata(held: Record<string, number>, fresh: Record<string, number>) {
  const reads: string[][] = [];
  const counts = (c: Record<string, number>) => ({
    topics: new Map(Object.entries(c).map(([t, n]) => [t, { partitionsCount: n }])),
  });
  const source: MetadataSource = {
    currentMetadata: counts(held),
    metadata: ({ topics }) => {
      reads.push(topics);
      return Promise.resolve(counts(fresh));
    },
  };
  return { source, reads };
}
const rec = (topic: string, partition?: number) => ({
  topic,
  key: "k",
  value: "{}",
  ...(partition === undefined ? {} : { partition }),
});

Deno.test("ensureKnownPartitions() reads metadata only when an explicit partition is beyond the count the producer holds", async (t) => {
  await t.step("known partitions and records without one: no read", async () => {
    const { source, reads } = fakeMetadata({ a: 6 }, { a: 6 });
    await ensureKnownPartitions(source, [rec("a", 5), rec("a"), rec("b")]);
    assert.deepEqual(reads, []);
  });
  await t.step("partitions added since the producer read them: read again, then sent", async () => {
    const { source, reads } = fakeMetadata({ a: 6, b: 3 }, { a: 8, b: 3 });
    await ensureKnownPartitions(source, [rec("a", 7), rec("b", 2)]);
    assert.deepEqual(reads, [["a"]]);
  });
  await t.step("a topic the producer never read: read", async () => {
    const { source, reads } = fakeMetadata({}, { a: 6 });
    await ensureKnownPartitions(source, [rec("a", 0)]);
    assert.deepEqual(reads, [["a"]]);
  });
  await t.step(
    "still short after reading again: refused, not sent to another partition",
    async () => {
      const { source } = fakeMetadata({ a: 6 }, { a: 6 });
      await assert.rejects(ensureKnownPartitions(source, [rec("a", 7)]), {
        name: "DespachoError",
        code: "KAFKA_UNAVAILABLE",
        retriable: true,
        message:
          'Cannot send to partition 7 of topic "a": the producer\'s metadata lists 6 partitions',
      });
    },
  );
});
