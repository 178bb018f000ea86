import assert from "node:assert/strict";
import { partitionOf } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import { PartitionLanes } from "./partition_lanes.ts";

const quiet = createLogger("test", "error", () => {});

/** A `describeTopic` whose answer the test sets: `count` partitions, p led by broker p % 3. */
function fakeDescribe(count: number) {
  const topic = { count, reads: 0, fail: false };
  const describe = (_topic: string) => {
    topic.reads++;
    if (topic.fail) return Promise.reject(new Error("Connection closed"));
    return Promise.resolve(
      Array.from({ length: topic.count }, (_, p) => ({
        partition: p,
        leader: p % 3,
        replicas: [],
        isr: [],
      })),
    );
  };
  return { topic, describe };
}
const record = (key: string) => ({ topic: "order_requests", key, value: "{}" });
const turns = async (n = 10) => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

Deno.test("PartitionLanes.take() names a record's partition, read once per topic", async () => {
  const { topic, describe } = fakeDescribe(4);
  const lanes = new PartitionLanes(describe, quiet);
  const [a, b] = await Promise.all([lanes.take(record("k1")), lanes.take(record("k2"))]);
  assert.equal(a.name, `order_requests:${partitionOf("k1", 4)}`);
  assert.equal(b.name, `order_requests:${partitionOf("k2", 4)}`);
  assert.equal(topic.reads, 1, "one read for both");
  a.release();
  b.release();
});

Deno.test("PartitionLanes.groupOf() is the partition's leader as last read", async () => {
  const { describe } = fakeDescribe(6);
  const lanes = new PartitionLanes(describe, quiet);
  (await lanes.take(record("k1"))).release();
  assert.equal(lanes.groupOf("order_requests:4"), "1");
  assert.equal(lanes.groupOf("order_requests:9"), "-1", "unknown partition");
  assert.equal(lanes.groupOf("other:0"), "-1", "unknown topic");
});

Deno.test("PartitionLanes.take() fails when the topic cannot be read or has no partitions", async () => {
  const { topic, describe } = fakeDescribe(0);
  const lanes = new PartitionLanes(describe, quiet);
  await assert.rejects(lanes.take(record("k1")), {
    code: "KAFKA_UNAVAILABLE",
    message: 'Cannot publish: topic "order_requests" has no partitions',
  });
  topic.fail = true;
  await assert.rejects(lanes.take(record("k1")), { message: "Connection closed" });
  topic.fail = false;
  topic.count = 2;
  const lane = await lanes.take(record("k1"));
  assert.equal(
    lane.name,
    `order_requests:${partitionOf("k1", 2)}`,
    "read again at the next record",
  );
});

Deno.test("PartitionLanes routes by a new partition count only once the records routed by the old one are released", async () => {
  // A key whose partition differs between 3 and 5 partitions: it moves when partitions are added.
  const key = Array.from({ length: 100 }, (_, i) => `k${i}`).find((k) =>
    partitionOf(k, 3) !== partitionOf(k, 5)
  )!;
  let now = 0;
  const { topic, describe } = fakeDescribe(3);
  const lanes = new PartitionLanes(describe, quiet, () => now);
  const old = await lanes.take(record(key));
  assert.equal(old.name, `order_requests:${partitionOf(key, 3)}`);

  topic.count = 5;
  now = 1000;
  lanes.refresh("order_requests");
  await turns();
  let next: string | undefined;
  const waiting = lanes.take(record(key)).then((l) => {
    next = l.name;
    return l;
  });
  await turns();
  assert.equal(next, undefined, "waits while a record routed by 3 partitions is in flight");
  assert.equal(
    lanes.groupOf(`order_requests:${partitionOf(key, 3)}`),
    String(partitionOf(key, 3) % 3),
  );

  old.release();
  old.release();
  (await waiting).release();
  assert.equal(next, `order_requests:${partitionOf(key, 5)}`);
});

Deno.test("PartitionLanes reads leaders again when asked, at most every 500 ms, and by itself after a minute", async () => {
  let now = 0;
  const { topic, describe } = fakeDescribe(3);
  const lanes = new PartitionLanes(describe, quiet, () => now);
  (await lanes.take(record("k1"))).release();
  assert.equal(topic.reads, 1);
  now = 100;
  lanes.refresh("order_requests");
  await turns();
  assert.equal(topic.reads, 1, "read just now");
  now = 600;
  lanes.refresh("order_requests");
  await turns();
  assert.equal(topic.reads, 2);
  now = 600 + 60_001;
  (await lanes.take(record("k1"))).release();
  await turns();
  assert.equal(topic.reads, 3, "a minute old: read again in the background");
});
