import assert from "node:assert/strict";
import { Hono } from "hono";
import { HttpProblem } from "./problem.ts";
import { Drain } from "./drain.ts";

/** An app behind a {@linkcode Drain} whose `/slow` answers when the test says so. */
function setup() {
  const drain = new Drain();
  const release: (() => void)[] = [];
  const thrown: unknown[] = [];
  const app = new Hono();
  app.use(drain.middleware());
  app.get("/slow", async (c) => {
    await new Promise<void>((resolve) => release.push(resolve));
    return c.text("done");
  });
  app.get("/fast", (c) => c.text("fast"));
  app.onError((error, c) => {
    thrown.push(error);
    return c.text("refused", 418);
  });
  return { drain, app, release, thrown };
}
const turn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

Deno.test("Drain.drain() waits for the one request in flight, then for settle", async () => {
  const { drain, app, release } = setup();
  const slow = app.request("/slow");
  await turn();
  assert.equal(drain.inFlight, 1);
  let settled = false;
  let finishSettle!: () => void;
  let stopped: boolean | undefined;
  const stopping = drain.drain(10_000, async () => {
    settled = true;
    await new Promise<void>((resolve) => finishSettle = resolve);
  }).then((done) => stopped = done);
  await turn();
  assert.equal(settled, false, "settle waits for the request in flight");
  release[0]!();
  assert.equal(await (await slow).text(), "done");
  await turn();
  assert.equal(settled, true);
  assert.equal(stopped, undefined, "still settling");
  finishSettle();
  await stopping;
  assert.equal(stopped, true);
  assert.equal(drain.inFlight, 0);
});

Deno.test("Drain refuses new requests once draining with a 503 problem naming the request", async () => {
  const { drain, app, thrown } = setup();
  assert.equal((await app.request("/fast")).status, 200);
  assert.equal(drain.draining, false);
  assert.equal(await drain.drain(1_000), true, "nothing in flight: drained at once");
  assert.equal(drain.draining, true);
  await (await app.request("/fast")).body?.cancel();
  const error = thrown[0];
  assert.ok(error instanceof HttpProblem, String(error));
  assert.equal(error.status, 503);
  assert.equal(error.message, "Cannot GET /fast: the gateway is shutting down");
  assert.deepEqual(error.headers, { "Retry-After": "2", "Connection": "close" });
});

Deno.test("Drain.drain() answers false after timeoutMs when a request does not finish", async () => {
  const { drain, app, release } = setup();
  const slow = app.request("/slow");
  await turn();
  assert.equal(await drain.drain(10), false);
  assert.equal(drain.inFlight, 1);
  release[0]!();
  await (await slow).body?.cancel();
  assert.equal(drain.inFlight, 0);
});
