import assert from "node:assert/strict";
import { createLogger } from "../log.ts";
import { registry } from "../metrics.ts";
import { parseTraceparent } from "../tracing.ts";
import { GroupCommit, NotOwnedError, type Position, type Transactions } from "./group_commit.ts";
import type { Outgoing, OutRecord } from "./records.ts";

const quiet = createLogger("test", "error", () => {});
const rec = (key: string): OutRecord => ({ topic: "out", key, value: key });
const at = (partition: number, offset: string): Position => ({ topic: "in", partition, offset });

/** A producer that logs what each transaction did; `failNext` makes the next commit throw. */
function fakeProducer() {
  const log: { records: string[]; offsets: string[]; outcome: string }[] = [];
  const sent: Outgoing[] = [];
  let failNext: unknown = null;
  let abortFails: unknown = null;
  let resets = 0;
  let gate: Promise<void> = Promise.resolve();
  const tx: Transactions = {
    begin() {
      const entry = { records: [] as string[], offsets: [] as string[], outcome: "open" };
      log.push(entry);
      return Promise.resolve({
        send: (records) => {
          sent.push(...records);
          entry.records.push(...records.map((r) => r.key));
          return Promise.resolve();
        },
        sendOffsets: (offsets) => {
          entry.offsets.push(...offsets.map((o) => `${o.partition}@${o.offset}`));
          return Promise.resolve();
        },
        commit: async () => {
          await gate;
          if (failNext !== null) {
            const error = failNext;
            failNext = null;
            throw error;
          }
          entry.outcome = "committed";
        },
        abort: () => {
          entry.outcome = "aborted";
          return abortFails === null ? Promise.resolve() : Promise.reject(abortFails);
        },
      });
    },
    reset: () => {
      resets++;
      return Promise.resolve();
    },
  };
  return {
    tx,
    log,
    sent,
    resets: () => resets,
    fail: (error: unknown) => (failNext = error),
    failAborts: (error: unknown) => (abortFails = error),
    hold: () => {
      let open: () => void = () => {};
      gate = new Promise((r) => (open = r));
      return () => {
        open();
        gate = Promise.resolve();
      };
    },
  };
}

Deno.test("GroupCommit commits what is queued during a transaction in one next transaction", async () => {
  const p = fakeProducer();
  const gc = new GroupCommit(p.tx, { log: quiet, isFatal: () => false, onFatal: () => {} });
  const release = p.hold();
  const first = gc.commit([rec("a")], at(0, "4"));
  await new Promise((r) => setTimeout(r, 0));
  const second = gc.commit([rec("b")], at(1, "9"));
  const third = gc.commit([rec("c")], at(0, "6"));
  release();
  await Promise.all([first, second, third]);
  assert.deepEqual(p.log, [
    { records: ["a"], offsets: ["0@5"], outcome: "committed" },
    { records: ["b", "c"], offsets: ["1@10", "0@7"], outcome: "committed" },
  ]);
});

Deno.test("GroupCommit: a deferred position rides in the next transaction, or alone after its delay", async () => {
  const p = fakeProducer();
  const gc = new GroupCommit(p.tx, {
    log: quiet,
    isFatal: () => false,
    onFatal: () => {},
    deferMs: 20,
  });
  gc.defer(at(2, "30"));
  await gc.commit([rec("x")], at(0, "1"));
  assert.deepEqual(p.log.at(-1), {
    records: ["x"],
    offsets: ["0@2", "2@31"],
    outcome: "committed",
  });
  gc.defer(at(2, "40"));
  await new Promise((r) => setTimeout(r, 60));
  await gc.drain();
  assert.deepEqual(p.log.at(-1), { records: [], offsets: ["2@41"], outcome: "committed" });
  assert.equal(p.log.length, 2);
});

Deno.test("GroupCommit refuses output for a partition it no longer owns, and drops its deferred position", async () => {
  const p = fakeProducer();
  const owned = new Set([0, 1]);
  const gc = new GroupCommit(p.tx, {
    log: quiet,
    isFatal: () => false,
    onFatal: () => {},
    owns: (tp) => owned.has(tp.partition),
  });
  gc.defer(at(1, "5"));
  owned.delete(1);
  gc.dropDeferred();
  await assert.rejects(gc.commit([rec("late")], at(1, "6")), NotOwnedError);
  await gc.commit([rec("ok")], at(0, "3"));
  assert.deepEqual(p.log, [{ records: ["ok"], offsets: ["0@4"], outcome: "committed" }]);
});

/** A GroupCommit over a fake producer where an error named "fenced" is fatal; fatal errors kept. */
function fencedOnName(keepsProducer?: (error: unknown) => boolean) {
  const p = fakeProducer();
  const fatal: unknown[] = [];
  const gc = new GroupCommit(p.tx, {
    log: quiet,
    isFatal: (e) => (e as Error).message === "fenced",
    onFatal: (e) => fatal.push(e),
    ...(keepsProducer === undefined ? {} : { keepsProducer }),
  });
  return { p, gc, fatal };
}

Deno.test("GroupCommit aborts a failed transaction, rejects its commits and re-creates the producer", async () => {
  const { p, gc, fatal } = fencedOnName();
  p.fail(new Error("coordinator moved"));
  await assert.rejects(gc.commit([rec("a")], at(0, "1")), { message: "coordinator moved" });
  assert.equal(p.log.at(-1)?.outcome, "aborted");
  assert.equal(p.resets(), 1);
  await gc.commit([rec("a")], at(0, "1"));
  assert.equal(p.log.at(-1)?.outcome, "committed");

  p.fail(new Error("fenced"));
  await assert.rejects(gc.commit([rec("b")], at(0, "2")), { message: "fenced" });
  assert.equal(fatal.length, 1);
  assert.equal(p.resets(), 1, "a fenced producer is not re-created");
  await assert.rejects(gc.commit([rec("c")], at(0, "3")), {
    message: "Cannot commit: this instance was fenced",
  });
});

Deno.test("GroupCommit: an abort refused as fenced ends the instance; a kept producer is not re-created", async (t) => {
  await t.step("a retriable failure whose abort is refused as fenced is fatal", async () => {
    const { p, gc, fatal } = fencedOnName();
    p.fail(new Error("stale member"));
    p.failAborts(new Error("fenced"));
    await assert.rejects(gc.commit([rec("a")], at(0, "1")), { message: "fenced" });
    assert.deepEqual(fatal.map((e) => (e as Error).message), ["fenced"]);
    assert.equal(p.resets(), 0, "a fenced producer is not re-created");
  });
  await t.step("an abort refused for another reason changes nothing", async () => {
    const { p, gc, fatal } = fencedOnName();
    p.fail(new Error("coordinator moved"));
    p.failAborts(new Error("connection closed"));
    await assert.rejects(gc.commit([rec("a")], at(0, "1")), { message: "coordinator moved" });
    assert.deepEqual(fatal, []);
    assert.equal(p.resets(), 1);
  });
  await t.step("keepsProducer: aborting is enough, the producer stays", async () => {
    const { p, gc } = fencedOnName((e) => (e as Error).message === "stale member");
    p.fail(new Error("stale member"));
    await assert.rejects(gc.commit([rec("a")], at(0, "1")), { message: "stale member" });
    assert.equal(p.log.at(-1)?.outcome, "aborted");
    assert.equal(p.resets(), 0);
    await gc.commit([rec("a")], at(0, "1"));
    assert.equal(p.log.at(-1)?.outcome, "committed");
  });
});

/** The value of one series of the registry (`name_count` for a histogram's count), by labels. */
async function sample(name: string, labels: Record<string, string>): Promise<number> {
  const family = name.replace(/_count$/, "");
  const metric = await registry.getSingleMetric(family)?.get();
  const found = metric?.values.find((v) =>
    ((v as { metricName?: string }).metricName ?? family) === name &&
    Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x)
  );
  return found?.value ?? 0;
}

Deno.test("GroupCommit counts and times its transactions under its group, committed or aborted", async () => {
  const p = fakeProducer();
  const group = `g-${crypto.randomUUID()}`;
  const gc = new GroupCommit(p.tx, { log: quiet, group, isFatal: () => false, onFatal: () => {} });
  await gc.commit([rec("a")], at(0, "1"));
  await gc.commit([rec("b")], at(0, "2"));
  p.fail(new Error("coordinator moved"));
  await assert.rejects(gc.commit([rec("c")], at(0, "3")));
  assert.equal(await sample("despacho_transactions_total", { group, outcome: "committed" }), 2);
  assert.equal(await sample("despacho_transactions_total", { group, outcome: "aborted" }), 1);
  const count = (outcome: string) =>
    sample("despacho_transaction_duration_seconds_count", { group, outcome });
  assert.equal(await count("committed"), 2);
  assert.equal(await count("aborted"), 1);
});

Deno.test("GroupCommit gives a record without a traceparent the transaction's, and keeps the others'", async () => {
  const p = fakeProducer();
  const gc = new GroupCommit(p.tx, { log: quiet, isFatal: () => false, onFatal: () => {} });
  const own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  await gc.commit([
    rec("bare"),
    { ...rec("traced"), headers: { traceparent: own, other: "kept" } },
    { ...rec("other-header"), headers: { other: "kept" } },
  ], at(0, "1"));
  const [bare, traced, other] = p.sent;
  assert.equal(traced!.headers?.traceparent, own);
  assert.equal(traced!.headers?.other, "kept");
  const stamped = parseTraceparent(bare!.headers?.traceparent);
  assert.ok(stamped !== null);
  assert.notEqual(stamped.traceId, parseTraceparent(own)!.traceId);
  assert.equal(other!.headers?.traceparent, bare!.headers?.traceparent);
  assert.equal(other!.headers?.other, "kept");
});
