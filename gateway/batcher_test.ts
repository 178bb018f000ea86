import assert from "node:assert/strict";
import { Batcher } from "./batcher.ts";

/** A sender whose sends settle when the test says so; `batches[i]` settles with `pending[i]`. */
function controlledSender<T>() {
  const batches: T[][] = [];
  const pending: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  const send = (items: T[]) => {
    batches.push(items);
    return new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
  };
  return { batches, pending, send };
}
/** Lets queued microtasks and promise reactions run (no timer involved). */
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => queueMicrotask(r));
};
const tick = () => new Promise<void>((r) => queueMicrotask(r));
/** Items named by lane: "a1" is lane "a". */
const lane = (item: string) => item[0]!;
/** Whether a promise has settled, without waiting for it. */
function tracked(p: Promise<void>) {
  const t = { state: "pending" as "pending" | "ok" | "failed", error: undefined as unknown };
  p.then(() => t.state = "ok", (e) => {
    t.state = "failed";
    t.error = e;
  });
  return t;
}

Deno.test("Batcher sends items pushed together in one batch, and those pushed during a send in the next", async () => {
  const s = controlledSender<number>();
  const batcher = new Batcher(s.send, { maxBatch: 100 });
  const first = [1, 2, 3].map((i) => batcher.push(i));
  await tick();
  assert.deepEqual(s.batches, [[1, 2, 3]]);
  const second = [4, 5].map((i) => batcher.push(i));
  await tick();
  assert.equal(s.batches.length, 1, "one send in flight at a time");
  s.pending[0]!.resolve();
  await Promise.all(first);
  await tick();
  assert.deepEqual(s.batches, [[1, 2, 3], [4, 5]]);
  s.pending[1]!.resolve();
  await Promise.all(second);
  assert.equal(batcher.pending, 0);
});

Deno.test("Batcher splits at maxBatch and rejects every item of a failed batch", async () => {
  const s = controlledSender<number>();
  const batcher = new Batcher(s.send, { maxBatch: 2 });
  const results = [1, 2, 3].map((i) => batcher.push(i).then(() => "ok", (e: Error) => e.message));
  await tick();
  s.pending[0]!.reject(new Error("broker down"));
  await tick();
  await tick();
  s.pending[1]!.resolve();
  assert.deepEqual(await Promise.all(results), ["broker down", "broker down", "ok"]);
  assert.deepEqual(s.batches, [[1, 2], [3]]);
});

Deno.test("Batcher with maxBatch 1 sends each item on its own", async () => {
  const s = controlledSender<number>();
  const batcher = new Batcher(s.send, { maxBatch: 1 });
  const sent = [1, 2].map((i) => batcher.push(i));
  await tick();
  assert.deepEqual(s.batches, [[1]]);
  s.pending[0]!.resolve();
  await sent[0];
  await tick();
  assert.deepEqual(s.batches, [[1], [2]]);
  s.pending[1]!.resolve();
  await sent[1];
});

Deno.test("Batcher() refuses bounds that are not whole numbers >= 1", async (t) => {
  const send = () => Promise.resolve();
  for (
    const [options, message] of [
      [{ maxBatch: 0 }, "maxBatch must be a whole number >= 1: current value is 0"],
      [{ maxInFlight: 0 }, "maxInFlight must be a whole number >= 1: current value is 0"],
      [{ maxInFlight: 1.5 }, "maxInFlight must be a whole number >= 1: current value is 1.5"],
    ] as const
  ) {
    await t.step(message, () => {
      assert.throws(() => new Batcher(send, options), {
        name: "RangeError",
        message: `Cannot create batcher: ${message}`,
      });
    });
  }
});

Deno.test("Batcher() does not hold a lane's items behind another lane's send that is stuck", async () => {
  // A partition whose leader was just killed: its send waits for a new leader. The other
  // partitions' items must go out and be acknowledged meanwhile.
  const s = controlledSender<string>();
  const batcher = new Batcher(s.send, { laneOf: lane, maxInFlight: 4 });
  const a1 = tracked(batcher.push("a1"));
  await settle();
  assert.deepEqual(s.batches, [["a1"]]);
  const b1 = tracked(batcher.push("b1"));
  const c1 = tracked(batcher.push("c1"));
  await settle();
  assert.deepEqual(s.batches, [["a1"], ["b1"], ["c1"]], "b and c do not wait for a");
  s.pending[1]!.resolve();
  s.pending[2]!.resolve();
  await settle();
  assert.equal(b1.state, "ok");
  assert.equal(c1.state, "ok");
  assert.equal(a1.state, "pending", "a is still stuck");
  s.pending[0]!.resolve();
  await settle();
  assert.equal(a1.state, "ok");
  assert.equal(batcher.sending, 0);
});

Deno.test("Batcher() keeps one send in flight per lane, its items in push order", async () => {
  const s = controlledSender<string>();
  const batcher = new Batcher(s.send, { laneOf: lane, maxInFlight: 4 });
  const sent = ["a1"].map((i) => batcher.push(i));
  await settle();
  sent.push(...["a2", "b1", "a3"].map((i) => batcher.push(i)));
  await settle();
  assert.deepEqual(s.batches, [["a1"], ["b1"]], "a2 and a3 wait for a1's send");
  s.pending[0]!.resolve();
  await settle();
  assert.deepEqual(s.batches, [["a1"], ["b1"], ["a2", "a3"]]);
  s.pending[1]!.resolve();
  s.pending[2]!.resolve();
  await Promise.all(sent);
});

Deno.test("Batcher() sends the waiting items of idle lanes of one group together", async () => {
  // Lanes are partitions, groups the brokers leading them: one send per broker, as one lane would.
  const s = controlledSender<string>();
  const leaders: Record<string, string> = { a: "broker 1", b: "broker 1", c: "broker 2" };
  const batcher = new Batcher(s.send, {
    laneOf: lane,
    groupOf: (l) => leaders[l]!,
    maxInFlight: 4,
  });
  const sent = ["a1", "c1", "b1", "a2"].map((i) => batcher.push(i));
  await settle();
  assert.deepEqual(s.batches, [["a1", "a2", "b1"], ["c1"]]);
  s.pending[0]!.resolve();
  s.pending[1]!.resolve();
  await Promise.all(sent);
});

Deno.test("Batcher() keeps at most maxInFlight sends in flight", async () => {
  const s = controlledSender<string>();
  const batcher = new Batcher(s.send, { laneOf: lane, maxInFlight: 2 });
  const sent = ["a1", "b1", "c1"].map((i) => batcher.push(i));
  await settle();
  assert.deepEqual(s.batches, [["a1"], ["b1"]]);
  assert.equal(batcher.sending, 2);
  assert.equal(batcher.pending, 1);
  s.pending[1]!.resolve();
  await settle();
  assert.deepEqual(s.batches, [["a1"], ["b1"], ["c1"]], "c goes once a slot is free");
  s.pending[0]!.resolve();
  s.pending[2]!.resolve();
  await Promise.all(sent);
});

Deno.test("Batcher() rejects only the items of the send that failed", async () => {
  const s = controlledSender<string>();
  const batcher = new Batcher(s.send, { laneOf: lane, maxInFlight: 4 });
  const results = ["a1", "b1", "a2"].map((i) =>
    batcher.push(i).then(() => "ok", (e: Error) => e.message)
  );
  await settle();
  assert.deepEqual(s.batches, [["a1", "a2"], ["b1"]]);
  s.pending[0]!.reject(new Error("Cannot send: leader not available"));
  s.pending[1]!.resolve();
  assert.deepEqual(await Promise.all(results), [
    "Cannot send: leader not available",
    "ok",
    "Cannot send: leader not available",
  ]);
  // A lane whose send failed takes new items again.
  const again = batcher.push("a3");
  await settle();
  assert.deepEqual(s.batches.at(-1), ["a3"]);
  s.pending[2]!.resolve();
  await again;
});

Deno.test("Batcher() settles every item, whatever its sends do and in whatever order they end, and ends with nothing in flight", async () => {
  // Lanes, sizes, outcomes and which send ends next from a fixed seed: reproducible, many
  // interleavings. Sends end out of order, and the first one stays stuck for 100 rounds (a
  // partition whose leader was killed) while later ones end before it.
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const s = controlledSender<string>();
  const batcher = new Batcher(s.send, { laneOf: lane, maxInFlight: 3, maxBatch: 4 });
  const outcomes = new Map<string, Promise<"ok" | "failed">>();
  /** How each send ended, by its index. */
  const ended: ("ok" | "failed")[] = [];
  const open = new Set<number>();
  let pushed = 0;
  let endedBeforeStuck = 0;
  const endSend = (i: number) => {
    open.delete(i);
    if (i !== 0 && open.has(0)) endedBeforeStuck++;
    if (random() < 0.2) {
      ended[i] = "failed";
      s.pending[i]!.reject(new Error("send failed"));
    } else {
      ended[i] = "ok";
      s.pending[i]!.resolve();
    }
  };
  for (let round = 0; round < 200; round++) {
    for (let n = Math.floor(random() * 4); n > 0; n--) {
      const item = `${"abcde"[Math.floor(random() * 5)]}${pushed++}`;
      outcomes.set(item, batcher.push(item).then(() => "ok", () => "failed"));
    }
    await settle();
    for (let i = open.size + ended.filter((e) => e).length; i < s.pending.length; i++) open.add(i);
    assert.ok(batcher.sending <= 3, `at most 3 sends in flight, saw ${batcher.sending}`);
    const openLanes = [...open].flatMap((i) => [...new Set(s.batches[i]!.map(lane))]);
    assert.equal(new Set(openLanes).size, openLanes.length, "no lane in two sends in flight");
    const candidates = [...open].filter((i) => i !== 0 || round >= 100);
    if (candidates.length > 0 && random() < 0.7) {
      endSend(candidates[Math.floor(random() * candidates.length)]!);
    }
  }
  while (batcher.pending > 0 || batcher.sending > 0) {
    await settle();
    for (let i = open.size + ended.filter((e) => e).length; i < s.pending.length; i++) open.add(i);
    endSend([...open][0]!);
    await settle();
  }
  assert.ok(endedBeforeStuck > 10, `sends ended while the first was stuck: ${endedBeforeStuck}`);
  assert.ok(ended.includes("failed") && ended.includes("ok"), "both outcomes seen");
  const sent = s.batches.flat();
  assert.equal(sent.length, pushed, "every item was sent exactly once");
  assert.equal(new Set(sent).size, sent.length);
  for (const [i, b] of s.batches.entries()) {
    assert.ok(b.length >= 1 && b.length <= 4, `a batch of ${b.length}`);
    for (const item of b) {
      assert.equal(await outcomes.get(item), ended[i], `${item} settled as its send ${i} ended`);
    }
  }
  for (const l of "abcde") {
    const order = sent.filter((i) => lane(i) === l).map((i) => Number(i.slice(1)));
    assert.deepEqual(order, order.toSorted((x, y) => x - y), `lane ${l} sent in push order`);
  }
});

Deno.test("Batcher.close() rejects the items waiting and every later push, and starts no send", async () => {
  const s = controlledSender<string>();
  const batcher = new Batcher(s.send, { laneOf: lane, maxInFlight: 2 });
  const inFlight = tracked(batcher.push("a1"));
  await settle();
  const waiting = tracked(batcher.push("a2"));
  await settle();
  assert.equal(batcher.pending, 1);
  const stopped = new Error("Cannot publish: the gateway is stopping");
  batcher.close(stopped);
  await settle();
  assert.equal(waiting.state, "failed");
  assert.equal(waiting.error, stopped);
  assert.equal(batcher.pending, 0);
  await assert.rejects(batcher.push("b1"), stopped);
  s.pending[0]!.resolve();
  await settle();
  assert.equal(inFlight.state, "ok", "the send in flight settles its items as it ends");
  assert.equal(s.batches.length, 1, "no send after close()");
  assert.equal(batcher.sending, 0);
});
