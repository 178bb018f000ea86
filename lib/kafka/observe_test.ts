import assert from "node:assert/strict";
import { createLogger } from "../log.ts";
import { registry } from "../metrics.ts";
import type { BatchContext, KafkaClient } from "./interfaces.ts";
import { countHandled, lagOf, watchLag } from "./observe.ts";
import type { InRecord } from "./records.ts";

async function value(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = await registry.getSingleMetric(name)?.get();
  return metric?.values.find((v) =>
    Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x)
  )?.value;
}

Deno.test("lagOf() subtracts the committed offset from the end, per partition", async (t) => {
  const cases: {
    name: string;
    ends: { partition: number; low: string; high: string }[];
    committed: { partition: number; offset: string }[];
    lag: number[];
  }[] = [
    {
      name: "committed partway",
      ends: [{ partition: 0, low: "0", high: "10" }],
      committed: [{ partition: 0, offset: "7" }],
      lag: [3],
    },
    {
      name: "nothing committed: everything retained",
      ends: [{ partition: 0, low: "4", high: "10" }],
      committed: [{ partition: 0, offset: "-1" }],
      lag: [6],
    },
    {
      name: "partition missing from the group's answer",
      ends: [{ partition: 0, low: "0", high: "2" }, { partition: 1, low: "0", high: "0" }],
      committed: [{ partition: 0, offset: "2" }],
      lag: [0, 0],
    },
    {
      name: "committed past a truncated end: never negative",
      ends: [{ partition: 0, low: "0", high: "5" }],
      committed: [{ partition: 0, offset: "9" }],
      lag: [0],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.deepEqual(lagOf(c.ends, c.committed).map((l) => l.lag), c.lag);
    });
  }
});

Deno.test("countHandled() counts a batch's records as their commits succeed, not before", async () => {
  const group = `g-${crypto.randomUUID()}`;
  const records = ["5", "6", "8", "9"].map((offset): InRecord => ({
    topic: "in",
    partition: 0,
    offset,
    key: null,
    value: null,
    headers: {},
    timestamp: 0,
  }));
  let failCommit = false;
  const ctx: BatchContext = {
    signal: new AbortController().signal,
    heartbeat: () => Promise.resolve(),
    commit: () => failCommit ? Promise.reject(new Error("aborted")) : Promise.resolve(),
  };
  const handled = () => value("despacho_records_handled_total", { group, topic: "in" });
  await countHandled(group, async (_batch, c) => {
    await c.commit([], "6");
    assert.equal(await handled(), 2);
    failCommit = true;
    await assert.rejects(c.commit([], "8"));
    assert.equal(await handled(), 2, "a failed commit counts nothing");
    failCommit = false;
    await c.commit([], "9");
  })({ topic: "in", partition: 0, records }, ctx);
  assert.equal(await handled(), 4);
});

Deno.test("watchLag() sets the lag gauge per partition until stopped", async () => {
  const group = `g-${crypto.randomUUID()}`;
  const stop = new AbortController();
  const kafka = {
    endOffsets: () =>
      Promise.resolve([
        { partition: 0, low: "0", high: "12" },
        { partition: 1, low: "0", high: "3" },
      ]),
    groupOffsets: () =>
      Promise.resolve([{ partition: 0, offset: "10" }, { partition: 1, offset: "3" }]),
  } as unknown as KafkaClient;
  const watching = watchLag({
    kafka,
    group,
    topics: ["t"],
    intervalMs: 10,
    log: createLogger("test", "error", () => {}),
    signal: stop.signal,
  });
  await new Promise((r) => setTimeout(r, 30));
  stop.abort();
  await watching;
  assert.equal(await value("despacho_consumer_lag", { group, topic: "t", partition: "0" }), 2);
  assert.equal(await value("despacho_consumer_lag", { group, topic: "t", partition: "1" }), 0);
});
