import assert from "node:assert/strict";
import { ErasedOrders, type ErasuresClient } from "./erasures.ts";
import type { PartitionEnds, ReaderOptions } from "./kafka/interfaces.ts";
import type { InRecord } from "./kafka/records.ts";
import { createLogger } from "./log.ts";
import { erasureRequestRecord } from "./order.ts";

const quiet = createLogger("test", "error", () => {});
const at = new Date("2026-01-01T00:00:00.000Z");

const rec = (partition: number, offset: number, value: string | null): InRecord => ({
  topic: "erasures",
  partition,
  offset: String(offset),
  key: "k",
  value: value === null ? null : new TextEncoder().encode(value),
  headers: {},
  timestamp: 0,
});
const request = (partition: number, offset: number, id: string) =>
  rec(partition, offset, erasureRequestRecord("erasures", id, at).value);

/**
 * A topic in memory: `log[p]` holds partition p's visible records, `ends` grows as records are
 * written; the follower (`reader`) gets each record written after it starts, when `deliver()` is
 * called (a fetch).
 */
function fakeTopic(partitions: number) {
  const log: InRecord[][] = Array.from({ length: partitions }, () => []);
  const high = Array.from({ length: partitions }, () => 0);
  const ranges: [number, string, string][] = [];
  let follower: { options: ReaderOptions; next: number[] } | null = null;
  const client: ErasuresClient = {
    endOffsets: () =>
      Promise.resolve(
        high.map((h, partition): PartitionEnds => ({ partition, low: "0", high: String(h) })),
      ),
    readRange(_topic, partition, from, to, onRecords) {
      ranges.push([partition, from, to]);
      const wanted = log[partition]!.filter((r) =>
        BigInt(r.offset) >= BigInt(from) && BigInt(r.offset) < BigInt(to)
      );
      if (wanted.length > 0) onRecords(wanted);
      return Promise.resolve();
    },
    reader(options) {
      follower = {
        options,
        next: high.map((_, p) => Number(options.startAt?.("erasures", p) ?? "0")),
      };
      return { ready: Promise.resolve(), running: () => true, stop: () => Promise.resolve() };
    },
  };
  return {
    client,
    ranges,
    /** Appends `r` (its offset is the partition's next); `marker` appends an undelivered offset. */
    write(partition: number, value: (p: number, o: number) => InRecord | null) {
      const r = value(partition, high[partition]!);
      if (r !== null) log[partition]!.push(r);
      high[partition]!++;
    },
    /** The follower fetches everything written since it last did. */
    async deliver() {
      const f = follower!;
      for (let p = 0; p < partitions; p++) {
        const records = log[p]!.filter((r) => Number(r.offset) >= f.next[p]!);
        f.next[p] = high[p]!;
        if (records.length > 0) {
          await f.options.onBatch({ topic: "erasures", partition: p, records });
        }
      }
    },
  };
}

Deno.test("ErasedOrders.start() loads every erasure of every partition, then follows the topic", async () => {
  const topic = fakeTopic(3);
  topic.write(0, (p, o) => request(p, o, "a"));
  topic.write(2, (p, o) => request(p, o, "b"));
  topic.write(2, (p, o) => rec(p, o, "not json")); // dead-lettered by processing; not an id here
  topic.write(2, () => null); // a transaction marker: never delivered
  const erased = new ErasedOrders(topic.client, "erasures", quiet);
  await erased.start();
  assert.deepEqual([erased.has("a"), erased.has("b"), erased.size], [true, true, 2]);
  assert.deepEqual(topic.ranges.sort(), [[0, "0", "1"], [2, "0", "3"]]);
  // Written while the role runs: the follower brings it, from where the load ended.
  topic.write(1, (p, o) => request(p, o, "c"));
  assert.equal(erased.has("c"), false);
  await topic.deliver();
  assert.equal(erased.has("c"), true);
  assert.equal(erased.size, 3);
  await erased.stop();
});

Deno.test("ErasedOrders.caughtUpNow() reads only what the follower has not applied, up to the end offsets of the call", async () => {
  const topic = fakeTopic(2);
  const erased = new ErasedOrders(topic.client, "erasures", quiet);
  await erased.start();
  assert.deepEqual(topic.ranges, [], "an empty topic: nothing to read");
  topic.write(0, (p, o) => request(p, o, "a"));
  topic.write(1, (p, o) => request(p, o, "b"));
  await topic.deliver(); // the follower applied both
  topic.write(1, (p, o) => request(p, o, "c")); // not fetched yet
  await erased.caughtUpNow();
  assert.equal(erased.has("c"), true, "known after the barrier, before the follower's fetch");
  assert.deepEqual(topic.ranges, [[1, "1", "2"]]);
  // The follower's later fetch of the same record changes nothing; a barrier with no gap reads nothing.
  await topic.deliver();
  await erased.caughtUpNow();
  assert.deepEqual(topic.ranges, [[1, "1", "2"]]);
  assert.equal(erased.size, 3);
  await erased.stop();
});

Deno.test("ErasedOrders.settled() waits for the barrier of the latest assignment, and starts it again after a failure", async () => {
  const topic = fakeTopic(1);
  let failNext = false;
  const client: ErasuresClient = {
    ...topic.client,
    readRange: (...args) =>
      failNext
        ? (failNext = false, Promise.reject(new Error("broker gone")))
        : topic.client.readRange(...args),
  };
  const erased = new ErasedOrders(client, "erasures", quiet);
  await erased.start();
  topic.write(0, (p, o) => request(p, o, "a"));
  failNext = true;
  erased.assigned();
  await assert.rejects(erased.settled(), { message: "broker gone" });
  assert.equal(erased.has("a"), false);
  await erased.settled();
  assert.equal(erased.has("a"), true, "the next batch's barrier read it");
  erased.add("b");
  assert.equal(erased.has("b"), true);
  await erased.stop();
});

Deno.test("ErasedOrders.start() asks again for the end offsets while a new topic has no leader yet, up to its ceiling", async () => {
  const topic = fakeTopic(1);
  topic.write(0, (p, o) => request(p, o, "a"));
  let refusals = 2;
  const client: ErasuresClient = {
    ...topic.client,
    endOffsets: (t) =>
      refusals-- > 0
        ? Promise.reject(new Error("This server is not the leader for that topic-partition"))
        : topic.client.endOffsets(t),
  };
  const erased = new ErasedOrders(client, "erasures", quiet);
  await erased.start();
  assert.equal(erased.has("a"), true);
  await erased.stop();
  // A topic that never answers: the start fails once the ceiling passes, saying what it waited for.
  const never = new ErasedOrders(
    { ...topic.client, endOffsets: () => Promise.reject(new Error("no leader")) },
    "erasures",
    quiet,
    300,
  );
  await assert.rejects(never.start(), /the end offsets of erasures/);
});
