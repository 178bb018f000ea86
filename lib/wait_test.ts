import assert from "node:assert/strict";
import {
  abortableSleep,
  type Poll,
  settled,
  sleepUntil,
  waitFor,
  WaitTimeoutError,
} from "./wait.ts";

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

Deno.test("settled(): a promise under way waited for with progress, its value, its error, or the ceiling", async () => {
  let resolve: (v: number) => void = () => {};
  const pending = new Promise<number>((r) => (resolve = r));
  const lines: string[] = [];
  let t = 0;
  const waiting = waitFor("the reader", settled(pending, "reading positions"), {
    timeoutMs: 60_000,
    intervalMs: 1_000,
    progressMs: 10_000,
    say: (line) => lines.push(line),
    now: () => t,
    sleep: async (ms) => {
      t += ms;
      if (t === 25_000) resolve(7);
      await Promise.resolve();
    },
  });
  assert.equal(await waiting, 7);
  assert.equal(lines.length, 2);
  assert.match(
    lines[0]!,
    /still waiting for the reader: 10 s so far, giving up after 60 s \(reading positions\)/,
  );

  const broken = new Error("no brokers");
  const failing = Promise.reject(broken);
  await assert.rejects(
    waitFor("the reader", settled(failing, "starting"), { timeoutMs: 1_000, intervalMs: 1 }),
    (error: unknown) => error === broken,
  );

  const never = new Promise<void>(() => {});
  await assert.rejects(
    waitFor("the reader", settled(never, "reading positions"), { timeoutMs: 20, intervalMs: 5 }),
    (error: unknown) =>
      error instanceof WaitTimeoutError && /reading positions/.test(error.message),
  );
});

Deno.test("abortableSleep() resolves after its time, and rejects with the reason when aborted before or during", async () => {
  await abortableSleep(0);
  const before = new AbortController();
  before.abort(new Error("stopped before"));
  await assert.rejects(abortableSleep(60_000, before.signal), { message: "stopped before" });
  // Aborted during the wait, its timer must be cleared: a 60 s timer left behind would keep a
  // stopping process alive.
  const clearTimeoutBefore = globalThis.clearTimeout;
  let cleared = 0;
  globalThis.clearTimeout = (id) => {
    cleared++;
    clearTimeoutBefore(id);
  };
  try {
    const during = new AbortController();
    const sleeping = abortableSleep(60_000, during.signal);
    during.abort(new Error("stopped during"));
    await assert.rejects(sleeping, { message: "stopped during" });
  } finally {
    globalThis.clearTimeout = clearTimeoutBefore;
  }
  assert.equal(cleared, 1);
});

Deno.test("sleepUntil() wakes at the time (at once when past) and says false when aborted first", async () => {
  const never = new AbortController().signal;
  assert.equal(await sleepUntil(new Date(Date.now() - 1000), never), true);
  const started = Date.now();
  assert.equal(await sleepUntil(new Date(started + 30), never), true);
  assert.ok(Date.now() - started >= 25, "it waited");
  const stop = new AbortController();
  const waiting = sleepUntil(new Date(Date.now() + 60_000), stop.signal);
  stop.abort();
  assert.equal(await waiting, false);
});
