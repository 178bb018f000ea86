import assert from "node:assert/strict";
import { partitionCounts } from "./partitions.ts";

Deno.test("partitionCounts() shares a read under way and keeps its count", async () => {
  const reads: string[] = [];
  let answer!: (count: number) => void;
  const counts = partitionCounts((topic) => {
    reads.push(topic);
    return new Promise((resolve) => answer = resolve);
  });
  const first = counts.read("a");
  const second = counts.read("a");
  answer(6);
  assert.deepEqual(await Promise.all([first, second]), [6, 6]);
  assert.deepEqual(reads, ["a"]);
  assert.equal(counts.known("a"), 6);
  assert.equal(counts.known("b"), undefined);
});

Deno.test("partitionCounts() refuses a topic Kafka lists no partition of, and reads it again next time", async () => {
  let count = 0;
  const counts = partitionCounts(() => Promise.resolve(count));
  await assert.rejects(counts.read("gone"), {
    name: "DespachoError",
    code: "KAFKA_UNAVAILABLE",
    retriable: true,
    message: 'Cannot choose a partition of topic "gone": Kafka lists 0 partitions',
  });
  assert.equal(counts.known("gone"), undefined);
  count = 3;
  assert.equal(await counts.read("gone"), 3);
});
