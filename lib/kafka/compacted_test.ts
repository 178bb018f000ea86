import assert from "node:assert/strict";
import { WaitTimeoutError } from "../wait.ts";
import type { KafkaClient, PartitionEnds } from "./interfaces.ts";
import { readLatestByKey } from "./compacted.ts";
import type { InRecord } from "./records.ts";

type Fake = Pick<KafkaClient, "endOffsets" | "readRange">;

const rec = (partition: number, offset: number, key: string | null, value: string | null, ts = 0) =>
  ({
    topic: "state",
    partition,
    offset: String(offset),
    key,
    value: value === null ? null : new TextEncoder().encode(value),
    headers: {},
    timestamp: ts,
  }) satisfies InRecord;

/**
 * A client over fixed partitions: `log[p]` holds the visible records of partition p, `ends[p]` its
 * offsets. Records are delivered two at a time, as fetches would.
 */
function fakeClient(ends: PartitionEnds[], log: Record<number, InRecord[]>) {
  const ranges: [number, string, string][] = [];
  const client: Fake = {
    endOffsets: () => Promise.resolve(ends),
    async readRange(_topic, partition, from, to, onRecords) {
      ranges.push([partition, from, to]);
      const wanted = (log[partition] ?? []).filter((r) =>
        BigInt(r.offset) >= BigInt(from) && BigInt(r.offset) < BigInt(to)
      );
      for (let i = 0; i < wanted.length; i += 2) {
        await Promise.resolve();
        onRecords(wanted.slice(i, i + 2));
      }
    },
  };
  return { client, ranges };
}

/** A clock that never moves and polls that never sleep: no test waits on real time. */
const instant = { timeoutMs: 1_000, now: () => 0, sleep: () => Promise.resolve() };

const text = (r: InRecord | undefined) =>
  r?.value === null || r === undefined ? undefined : new TextDecoder().decode(r.value);

Deno.test("readLatestByKey() reads every partition from its first offset to its high watermark", async () => {
  const { client, ranges } = fakeClient(
    [
      { partition: 0, low: "3", high: "9" },
      { partition: 1, low: "0", high: "0" },
      { partition: 2, low: "0", high: "4" },
    ],
    {
      // Offsets 7 and 8 of partition 0 are a commit marker and an aborted record: never delivered.
      0: [rec(0, 3, "a", "a1"), rec(0, 4, "b", "b1"), rec(0, 5, "a", "a2"), rec(0, 6, "c", "c1")],
      2: [rec(2, 0, "d", "d1"), rec(2, 2, "d", "d2")],
    },
  );
  const latest = await readLatestByKey(client, "state", instant);
  assert.deepEqual(ranges.sort(), [[0, "3", "9"], [2, "0", "4"]]);
  assert.deepEqual(
    [...latest].map(([k, r]) => [k, text(r), r.offset]).sort(),
    [["a", "a2", "5"], ["b", "b1", "4"], ["c", "c1", "6"], ["d", "d2", "2"]],
  );
});

Deno.test("readLatestByKey() drops a key whose latest record is a tombstone, and records without a key", async () => {
  const { client } = fakeClient([{ partition: 0, low: "0", high: "5" }], {
    0: [rec(0, 0, "a", "a1"), rec(0, 1, "b", "b1"), rec(0, 2, "a", null), rec(0, 3, null, "x")],
  });
  const latest = await readLatestByKey(client, "state", instant);
  assert.deepEqual([...latest.keys()], ["b"]);
});

Deno.test("readLatestByKey() keeps the later timestamp for a key found in two partitions", async () => {
  const { client } = fakeClient(
    [{ partition: 0, low: "0", high: "1" }, { partition: 1, low: "0", high: "1" }],
    { 0: [rec(0, 0, "a", "new", 200)], 1: [rec(1, 0, "a", "old", 100)] },
  );
  const latest = await readLatestByKey(client, "state", instant);
  assert.equal(text(latest.get("a")), "new");
});

Deno.test("readLatestByKey() answers an empty map for an empty topic without reading", async () => {
  const { client, ranges } = fakeClient([{ partition: 0, low: "7", high: "7" }], {});
  assert.deepEqual(await readLatestByKey(client, "state", instant), new Map());
  assert.deepEqual(ranges, []);
});

/** Two partitions of two records each. */
const twoPartitions = () =>
  Promise.resolve([{ partition: 0, low: "0", high: "2" }, { partition: 1, low: "0", high: "2" }]);

Deno.test("readLatestByKey() says what it has read while it waits, and gives up at its ceiling rather than answer less", async () => {
  let clock = 0;
  const lines: string[] = [];
  const aborted: unknown[] = [];
  const client: Fake = {
    endOffsets: twoPartitions,
    readRange(_topic, partition, _from, _to, onRecords, signal) {
      onRecords([rec(partition, 0, `k${partition}`, "v")]);
      if (partition === 0) return Promise.resolve();
      // Partition 1 never reaches its end (a transaction that stays open, a broker that is gone).
      return new Promise((_, reject) =>
        signal?.addEventListener("abort", () => {
          aborted.push(signal.reason);
          reject(signal.reason);
        })
      );
    },
  };
  await assert.rejects(
    readLatestByKey(client, "state", {
      timeoutMs: 60_000,
      say: (line) => lines.push(line),
      now: () => clock,
      sleep: (ms) => {
        clock += ms;
        return Promise.resolve();
      },
    }),
    new WaitTimeoutError(
      "state to be read to its end (2 partitions)",
      60_000,
      "1 of 2 partitions read, 2 records",
    ),
  );
  assert.ok(lines.length >= 5, `progress every 10 s: ${lines.length} lines`);
  assert.match(
    lines[0]!,
    /^still waiting for state to be read to its end \(2 partitions\): 10 s so far, giving up after 60 s \(1 of 2 partitions read, 2 records\)$/,
  );
  assert.equal(aborted.length, 1, "the unfinished read is stopped");
});

Deno.test("readLatestByKey() fails with the error of a partition's read, and stops the others", async () => {
  const aborted: number[] = [];
  const client: Fake = {
    endOffsets: twoPartitions,
    readRange(_topic, partition, _from, _to, _onRecords, signal) {
      if (partition === 0) return Promise.reject(new TypeError("Cannot fetch: broker gone"));
      return new Promise((_, reject) =>
        signal?.addEventListener("abort", () => {
          aborted.push(partition);
          reject(signal.reason);
        })
      );
    },
  };
  await assert.rejects(
    readLatestByKey(client, "state", instant),
    new TypeError("Cannot fetch: broker gone"),
  );
  assert.deepEqual(aborted, [1]);
});

Deno.test("readLatestByKey() ends when its signal aborts", async () => {
  const stop = new AbortController();
  const client: Fake = {
    endOffsets: () => Promise.resolve([{ partition: 0, low: "0", high: "2" }]),
    readRange: (_t, _p, _f, _to, _on, signal) =>
      new Promise((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason))),
  };
  const reading = readLatestByKey(client, "state", { ...instant, signal: stop.signal });
  stop.abort(new Error("stopping"));
  await assert.rejects(reading, new Error("stopping"));
});
