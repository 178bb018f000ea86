import assert from "node:assert/strict";
import { roleRestarts } from "./metrics.ts";
import { backoffDelay, supervise } from "./supervise.ts";

/** Controlled time: sleeping moves the clock; a run can take time too. */
function clock() {
  let t = 0;
  const slept: number[] = [];
  return {
    now: () => t,
    advance: (ms: number) => (t += ms),
    slept,
    sleep: (ms: number, signal?: AbortSignal) => {
      if (signal?.aborted) return Promise.reject(signal.reason);
      slept.push(ms);
      t += ms;
      return Promise.resolve();
    },
  };
}

Deno.test("supervise() restarts after retriable failures with a growing back-off, and stops on its signal", async () => {
  const time = clock();
  const stop = new AbortController();
  const errors = ["Request CreateTopics timed out", "coordinator moved", "broker restarting"];
  const runs: number[] = [];
  const restarts: [string, number, number][] = [];
  await supervise(async (attempt) => {
    runs.push(attempt);
    const error = errors.shift();
    if (error !== undefined) throw new Error(error);
    stop.abort(); // the fourth run is asked to stop, and ends
    await Promise.resolve();
  }, {
    classify: () => "retriable",
    signal: stop.signal,
    random: () => 0.5,
    onRestart: (e, n, d) => restarts.push([(e as Error).message, n, d]),
    ...time,
  });
  assert.deepEqual(runs, [1, 2, 3, 4]);
  assert.deepEqual(restarts, [
    ["Request CreateTopics timed out", 1, 500],
    ["coordinator moved", 2, 1000],
    ["broker restarting", 3, 2000],
  ]);
});

Deno.test("supervise() ends with a fatal failure at once", async () => {
  const time = clock();
  const fenced = Object.assign(new Error("fenced"), { type: "PRODUCER_FENCED" });
  let runs = 0;
  await assert.rejects(
    supervise(() => {
      runs++;
      return Promise.reject(fenced);
    }, {
      classify: (e) => (e as { type?: string }).type === "PRODUCER_FENCED" ? "fatal" : "retriable",
      signal: new AbortController().signal,
      ...time,
    }),
    (error) => error === fenced,
  );
  assert.equal(runs, 1);
  assert.deepEqual(time.slept, []);
});

Deno.test("supervise() restarts a run that ended by itself, and a long run resets the back-off", async () => {
  const time = clock();
  const stop = new AbortController();
  const restarts: [string, number][] = [];
  let runs = 0;
  await supervise(() => {
    runs++;
    if (runs === 3) time.advance(120_000); // a long, healthy run before it failed
    if (runs === 5) stop.abort();
    return runs === 2 ? Promise.resolve() : Promise.reject(new Error(`failure ${runs}`));
  }, {
    classify: () => "retriable",
    signal: stop.signal,
    random: () => 0.999,
    onRestart: (e, n) => restarts.push([(e as Error).message, n]),
    ...time,
  });
  assert.deepEqual(restarts, [
    ["failure 1", 1],
    ["Cannot keep running: it ended by itself", 2],
    ["failure 3", 1],
    ["failure 4", 2],
  ]);
  assert.deepEqual(time.slept, [999, 1998, 999, 1998]);
});

Deno.test("supervise() counts each restart of a named role in despacho_role_restarts_total", async () => {
  const time = clock();
  const stop = new AbortController();
  const count = async (role: string) =>
    (await roleRestarts.get()).values.find((v) => v.labels.role === role)?.value ?? 0;
  const steady = new AbortController();
  steady.abort();
  await supervise(() => Promise.resolve(), {
    classify: () => "retriable",
    signal: steady.signal,
    role: "steady-role",
  });
  assert.ok(
    (await roleRestarts.get()).values.some((v) => v.labels.role === "steady-role" && v.value === 0),
    "a supervised role's series exists at 0 before any restart",
  );
  const before = await count("test-role");
  let runs = 0;
  await supervise(() => {
    if (++runs === 4) stop.abort();
    return Promise.reject(new Error(`failure ${runs}`));
  }, { classify: () => "retriable", signal: stop.signal, role: "test-role", ...time });
  assert.equal(await count("test-role") - before, 3, "three restarts before the stop");
  // Without a role nothing is counted (a test or a tool supervising something else): two
  // restarts, and no series of any role moves.
  const total = async () => (await roleRestarts.get()).values.reduce((n, v) => n + v.value, 0);
  const allBefore = await total();
  const unnamed = new AbortController();
  let unnamedRuns = 0;
  await supervise(() => {
    if (++unnamedRuns === 3) unnamed.abort();
    return Promise.reject(new Error("failure"));
  }, { classify: () => "retriable", signal: unnamed.signal, ...time });
  assert.equal(unnamedRuns, 3, "it was restarted twice");
  assert.equal(await total(), allBefore);
  assert.equal(await count("test-role") - before, 3);
});

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
