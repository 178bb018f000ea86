import assert from "node:assert/strict";
import { backoffDelay, retry } from "./retry.ts";

Deno.test("backoffDelay() grows exponentially up to the cap, scaled by jitter", async (t) => {
  const cases: [number, number, number][] = [
    [1, 0.999, 199],
    [2, 0.999, 399],
    [3, 0.5, 400],
    [10, 0.999, 9990],
    [50, 1 - 1e-9, 9999],
    [4, 0, 0],
  ];
  for (const [attempt, random, want] of cases) {
    await t.step(
      `attempt ${attempt}, random ${random}`,
      () => assert.equal(backoffDelay(attempt, random), want),
    );
  }
  assert.throws(() => backoffDelay(0, 0.5), {
    name: "RangeError",
    message: "Cannot compute backoff: attempt must be a whole number >= 1: current value is 0",
  });
});

Deno.test("retry() retries retriable errors with backoff and returns the attempts", async () => {
  const waits: number[] = [];
  let calls = 0;
  const result = await retry(
    () => ++calls < 3 ? Promise.reject(new Error("busy")) : Promise.resolve("sent"),
    {
      maxAttempts: 5,
      random: () => 0.5,
      sleep: (ms) => {
        waits.push(ms);
        return Promise.resolve();
      },
    },
  );
  assert.deepEqual(result, { value: "sent", attempts: 3 });
  assert.deepEqual(waits, [100, 200]);
});

Deno.test("retry() gives up after maxAttempts, and at once on a non-retriable error", async () => {
  let calls = 0;
  const sleep = () => Promise.resolve();
  await assert.rejects(
    retry(() => Promise.reject(new Error(`fail ${++calls}`)), { maxAttempts: 3, sleep }),
    { message: "fail 3" },
  );
  calls = 0;
  await assert.rejects(
    retry(() => Promise.reject(new Error(`fatal ${++calls}`)), {
      maxAttempts: 3,
      sleep,
      isRetriable: () => false,
    }),
    { message: "fatal 1" },
  );
});

Deno.test("retry() stops when its signal aborts", async () => {
  const controller = new AbortController();
  const reason = new Error("stopping");
  await assert.rejects(
    retry(() => Promise.reject(new Error("busy")), {
      maxAttempts: 10,
      signal: controller.signal,
      sleep: () => {
        controller.abort(reason);
        return Promise.resolve();
      },
    }),
    reason,
  );
});
