import assert from "node:assert/strict";
import type { KafkaClient } from "./kafka/interfaces.ts";
import type { InRecord } from "./kafka/records.ts";
import type { PurchaseCheckpoint } from "./purchase.ts";
import { checkpointKey } from "./purchase_analytics.ts";
import { restoreCheckpoints } from "./purchase_checkpoint.ts";
import { emptyState } from "./windows.ts";

const GROUP = "despacho-purchase-analytics";
const source = { groupId: GROUP, inputTopic: "purchase_events", stateTopic: "state" };
const instant = { timeoutMs: 1_000, now: () => 0, sleep: () => Promise.resolve() };

const checkpoint = (partition: number, offset: string, events = 1): PurchaseCheckpoint => ({
  v: 1,
  type: "PurchaseCheckpoint",
  topic: "purchase_events",
  partition,
  offset,
  state: { ...emptyState(), totals: { ...emptyState().totals, events, visits: events } },
});

function client(log: [string, string | null][]) {
  const calls: string[] = [];
  const records: InRecord[] = log.map(([key, value], i) => ({
    topic: "state",
    partition: 0,
    offset: String(i),
    key,
    value: value === null ? null : new TextEncoder().encode(value),
    headers: {},
    timestamp: i,
  }));
  const fake: Pick<KafkaClient, "endOffsets" | "readRange" | "groupOffsets"> = {
    groupOffsets(groupId, topic) {
      calls.push(`groupOffsets ${groupId} ${topic}`);
      return Promise.resolve([
        { partition: 0, offset: "11" },
        { partition: 1, offset: "21" },
        { partition: 2, offset: "-1" },
      ]);
    },
    endOffsets(topic) {
      calls.push(`endOffsets ${topic}`);
      return Promise.resolve([{ partition: 0, low: "0", high: String(records.length + 1) }]);
    },
    readRange(_topic, _partition, from, to, onRecords) {
      calls.push(`readRange ${from} ${to}`);
      onRecords(records);
      return Promise.resolve();
    },
  };
  return { fake, calls };
}

Deno.test("restoreCheckpoints() finds each input partition's latest checkpoint and the group's offsets", async () => {
  const key = (p: number) => checkpointKey(GROUP, "purchase_events", p);
  const { fake, calls } = client([
    [key(0), JSON.stringify(checkpoint(0, "4"))],
    [key(1), JSON.stringify(checkpoint(1, "20"))],
    [key(0), JSON.stringify(checkpoint(0, "10", 7))],
    [checkpointKey("other-group", "purchase_events", 0), JSON.stringify(checkpoint(0, "99"))],
    [checkpointKey(GROUP, "other_topic", 0), JSON.stringify(checkpoint(0, "99"))],
    [key(2), JSON.stringify(checkpoint(2, "5"))],
    [key(2), null],
  ]);
  const restored = await restoreCheckpoints(fake, source, instant);
  assert.deepEqual(calls, [
    `groupOffsets ${GROUP} purchase_events`,
    "endOffsets state",
    "readRange 0 8",
  ]);
  assert.deepEqual([...restored.checkpoints.keys()].sort(), [0, 1]);
  assert.deepEqual(restored.checkpoints.get(0), checkpoint(0, "10", 7));
  assert.deepEqual(restored.checkpoints.get(1), checkpoint(1, "20"));
  assert.deepEqual(
    [...restored.committed],
    [[0, "11"], [1, "21"], [2, "-1"]],
  );
  assert.deepEqual(restored.skipped, []);
});

Deno.test("restoreCheckpoints() skips a latest checkpoint that does not parse, and never falls back to an older one", async () => {
  const key = (p: number) => checkpointKey(GROUP, "purchase_events", p);
  const { fake } = client([
    [key(0), JSON.stringify(checkpoint(0, "9"))],
    [key(0), '{"v":1,"state":{}}'],
    [key(1), "{"],
    [key(3), JSON.stringify(checkpoint(4, "3"))],
  ]);
  const restored = await restoreCheckpoints(fake, source, instant);
  assert.deepEqual(restored.checkpoints, new Map());
  assert.deepEqual(
    restored.skipped.map((s) => [s.partition, s.at, s.reason.split(":")[0]]),
    [
      [0, { partition: 0, offset: "1" }, "Cannot parse record"],
      [1, { partition: 0, offset: "2" }, "Cannot parse record"],
      [3, { partition: 0, offset: "3" }, "Cannot use checkpoint"],
    ],
  );
  assert.match(restored.skipped[0]!.reason, /schema mismatch: type: Invalid input/);
  assert.equal(
    restored.skipped[2]!.reason,
    `Cannot use checkpoint: it is keyed ${key(3)} but describes purchase_events/4`,
  );
});
