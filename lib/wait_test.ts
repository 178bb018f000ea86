import assert from "node:assert/strict";
import { type Poll, waitFor, WaitTimeoutError } from "./wait.ts";

/** A clock that only moves when the wait sleeps. */
function fakeTime() {
  let t = 0;
  return {
    now: () => t,
    sleep: (ms: number) => {
      t += ms;
      return Promise.resolve();
    },
  };
}

Deno.test("waitFor() returns the first ready value and says how long it has waited", async () => {
  const time = fakeTime();
  const said: string[] = [];
  let polls = 0;
  const value = await waitFor(
    "the broker on 127.0.0.1:9092 to answer",
    (): Promise<Poll<string>> =>
      Promise.resolve(
        ++polls < 100 ? { ready: false, why: "connection refused" } : { ready: true, value: "up" },
      ),
    { timeoutMs: 600_000, intervalMs: 500, progressMs: 15_000, say: (l) => said.push(l), ...time },
  );
  assert.equal(value, "up");
  assert.equal(polls, 100);
  // 99 polls not ready, 500 ms apart: 49.5 s; a line at 15, 30 and 45 s.
  assert.deepEqual(said, [
    "still waiting for the broker on 127.0.0.1:9092 to answer: 15 s so far, giving up after 600 s (connection refused)",
    "still waiting for the broker on 127.0.0.1:9092 to answer: 30 s so far, giving up after 600 s (connection refused)",
    "still waiting for the broker on 127.0.0.1:9092 to answer: 45 s so far, giving up after 600 s (connection refused)",
  ]);
});

Deno.test("waitFor() gives up after the ceiling with the last reason seen", async () => {
  const time = fakeTime();
  let polls = 0;
  await assert.rejects(
    waitFor("topic t to have leaders", () => {
      polls++;
      return Promise.reject(new Error("Request CreateTopics(key: 19, version: 3) timed out"));
    }, { timeoutMs: 120_000, intervalMs: 1_000, ...time }),
    (error: unknown) => {
      assert.ok(error instanceof WaitTimeoutError);
      assert.equal(
        error.message,
        "Cannot wait for topic t to have leaders: not ready after 120 s: Request CreateTopics(key: 19, version: 3) timed out",
      );
      assert.equal(error.waitedMs, 120_000);
      return true;
    },
  );
  // Polls at 0, 1, …, 120 s: the last one exactly at the ceiling.
  assert.equal(polls, 121);
});

Deno.test("waitFor() stops at once when its signal aborts", async () => {
  const stop = new AbortController();
  let polls = 0;
  const waiting = waitFor("something", () => {
    if (++polls === 3) stop.abort(new Error("stopping"));
    return Promise.resolve({ ready: false });
  }, { timeoutMs: 60_000, intervalMs: 1, signal: stop.signal });
  await assert.rejects(waiting, { message: "stopping" });
  assert.equal(polls, 3);
});

Deno.test("waitFor() ends at once with a poll's fatal error", async () => {
  let polls = 0;
  const gone = new Error("Cannot start worker: it exited with code 1");
  await assert.rejects(
    waitFor(
      "worker to be ready",
      () => Promise.resolve(++polls < 3 ? { ready: false } : { ready: false, fatal: gone }),
      {
        timeoutMs: 60_000,
        intervalMs: 1,
      },
    ),
    (error: unknown) => error === gone,
  );
  assert.equal(polls, 3);
});
