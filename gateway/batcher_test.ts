import assert from "node:assert/strict";
import { Batcher } from "./batcher.ts";

function controlledSender() {
  const batches: number[][] = [];
  const pending: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  const send = (items: number[]) => {
    batches.push(items);
    return new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
  };
  return { batches, pending, send };
}
const tick = () => new Promise<void>((r) => queueMicrotask(r));

Deno.test("Batcher sends items pushed together in one batch, and those pushed during a send in the next", async () => {
  const s = controlledSender();
  const batcher = new Batcher(s.send, 100);
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
  const s = controlledSender();
  const batcher = new Batcher(s.send, 2);
  const results = [1, 2, 3].map((i) => batcher.push(i).then(() => "ok", (e: Error) => e.message));
  await tick();
  s.pending[0]!.reject(new Error("broker down"));
  await tick();
  await tick();
  s.pending[1]!.resolve();
  assert.deepEqual(await Promise.all(results), ["broker down", "broker down", "ok"]);
  assert.deepEqual(s.batches, [[1, 2], [3]]);
  assert.throws(() => new Batcher(s.send, 0), {
    name: "RangeError",
    message: "Cannot create batcher: maxBatch must be a whole number >= 1: current value is 0",
  });
});

Deno.test("Batcher with maxBatch 1 sends each item on its own", async () => {
  const s = controlledSender();
  const batcher = new Batcher(s.send, 1);
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
