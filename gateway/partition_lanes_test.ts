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

Deno.test("PartitionLanes.route() names a record's partition, read once per topic", async () => {
  const { topic, describe } = fakeDescribe(4);
  const lanes = new PartitionLanes(describe, quiet);
  const [a, b] = await Promise.all([lanes.route(record("k1")), lanes.route(record("k2"))]);
  assert.equal(a.name, `order_requests:${partitionOf("k1", 4)}`);
  assert.equal(b.name, `order_requests:${partitionOf("k2", 4)}`);
  assert.equal(topic.reads, 1, "one read for both");
  assert.equal(a.partition, partitionOf("k1", 4), "the partition the record is sent to");
});

Deno.test("PartitionLanes.groupOf() is the partition's leader as last read", async () => {
  const { describe } = fakeDescribe(6);
  const lanes = new PartitionLanes(describe, quiet);
  await lanes.route(record("k1"));
  assert.equal(lanes.groupOf("order_requests:4"), "1");
  assert.equal(lanes.groupOf("order_requests:9"), "-1", "unknown partition");
  assert.equal(lanes.groupOf("other:0"), "-1", "unknown topic");
});

Deno.test("PartitionLanes.route() fails when the topic cannot be read or has no partitions", async () => {
  const { topic, describe } = fakeDescribe(0);
  const lanes = new PartitionLanes(describe, quiet);
  await assert.rejects(lanes.route(record("k1")), {
    code: "KAFKA_UNAVAILABLE",
    message: 'Cannot publish: topic "order_requests" has no partitions',
  });
  topic.fail = true;
  await assert.rejects(lanes.route(record("k1")), { message: "Connection closed" });
  topic.fail = false;
  topic.count = 2;
  const lane = await lanes.route(record("k1"));
  assert.equal(
    lane.name,
    `order_requests:${partitionOf("k1", 2)}`,
    "read again at the next record",
  );
});

Deno.test("PartitionLanes adopts a larger partition count at once and ignores a smaller one", async () => {
  // A key whose partition differs between 3 and 5 partitions: it moves when partitions are added.
  const key = Array.from({ length: 100 }, (_, i) => `k${i}`).find((k) =>
    partitionOf(k, 3) !== partitionOf(k, 5)
  )!;
  let now = 0;
  const { topic, describe } = fakeDescribe(3);
  const lanes = new PartitionLanes(describe, quiet, () => now);
  const old = await lanes.route(record(key));
  assert.deepEqual(old, {
    name: `order_requests:${partitionOf(key, 3)}`,
    partition: partitionOf(key, 3),
  });

  topic.count = 5;
  now = 1000;
  lanes.refresh("order_requests");
  await turns();
  assert.deepEqual(
    lanes.routeNow(record(key)),
    { name: `order_requests:${partitionOf(key, 5)}`, partition: partitionOf(key, 5) },
    "routed by 5 partitions at once, without waiting for the record routed by 3",
  );
  assert.equal(lanes.groupOf("order_requests:4"), "1", "the added partition's leader");

  // A broker that has not heard of the new partitions yet: Kafka never removes partitions.
  topic.count = 3;
  now = 2000;
  lanes.refresh("order_requests");
  await turns();
  assert.equal(topic.reads, 3);
  assert.equal(lanes.routeNow(record(key))?.partition, partitionOf(key, 5), "3 is stale: ignored");
  now = 2100;
  lanes.refresh("order_requests");
  await turns();
  assert.equal(topic.reads, 3, "the stale answer still counts as a read just now");
});

Deno.test("PartitionLanes reads leaders again when asked, at most every 500 ms, and by itself after a minute", async () => {
  let now = 0;
  const { topic, describe } = fakeDescribe(3);
  const lanes = new PartitionLanes(describe, quiet, () => now);
  await lanes.route(record("k1"));
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
  await lanes.route(record("k1"));
  await turns();
  assert.equal(topic.reads, 3, "a minute old: read again in the background");
});
