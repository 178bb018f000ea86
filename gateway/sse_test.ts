import assert from "node:assert/strict";
import { LatestKeys, type LiveStream, pushedItems } from "./sse.ts";

/** A stream the test ends, a source the test pushes to, and a keep-alive clock the test moves. */
function setup() {
  const writes: string[] = [];
  const aborted: (() => void)[] = [];
  const stream: LiveStream & { abort(): void } = {
    onAbort: (listener) => void aborted.push(listener),
    write: (text) => Promise.resolve(void writes.push(text)),
    abort: () => aborted.forEach((l) => l()),
  };
  let push: (item: string) => void = () => {};
  let subscribed = 0;
  const subscribe = (p: (item: string) => void) => {
    push = p;
    subscribed++;
    return () => void subscribed--;
  };
  let fire: (() => void) | null = null;
  const sleep = (_ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      fire = resolve;
      signal.addEventListener("abort", () => reject(signal.reason));
    });
  return {
    stream,
    writes,
    subscribe,
    sleep,
    push: (item: string) => push(item),
    subscribed: () => subscribed,
    /** Lets the keep-alive period pass. */
    tick: () => fire?.(),
  };
}

/** Lets pending promise callbacks run. */
const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("pushedItems() yields what is pushed after it subscribed, in order, until the client goes", async () => {
  const s = setup();
  const items = pushedItems(s.stream, s.subscribe, { sleep: s.sleep });
  s.push("a"); // before the caller starts iterating: kept
  const got: string[] = [];
  const reading = (async () => {
    for await (const item of items) got.push(item);
  })();
  await settle();
  s.push("b");
  s.push("c");
  await settle();
  assert.deepEqual(got, ["a", "b", "c"]);
  s.stream.abort();
  await reading;
  assert.equal(s.subscribed(), 0, "unsubscribed when the client went");
  s.push("d");
  assert.deepEqual(got, ["a", "b", "c"]);
});

Deno.test("pushedItems() writes a keep-alive comment each quiet period, and none once items flow", async () => {
  const s = setup();
  const items = pushedItems(s.stream, s.subscribe, { sleep: s.sleep });
  const next = items.next();
  await settle();
  s.tick();
  await settle();
  s.tick();
  await settle();
  assert.deepEqual(s.writes, [": keep-alive\n\n", ": keep-alive\n\n"]);
  s.push("a");
  assert.deepEqual(await next, { value: "a", done: false });
  assert.equal(s.writes.length, 2);
  items.close();
  assert.deepEqual(await items.next(), { value: undefined, done: true });
});

Deno.test("pushedItems() unsubscribes when closed before it is read, or when a loop leaves it", async (t) => {
  await t.step("closed before it is read", () => {
    const s = setup();
    pushedItems(s.stream, s.subscribe, { sleep: s.sleep }).close();
    assert.equal(s.subscribed(), 0);
  });
  await t.step("left by break", async () => {
    const s = setup();
    const items = pushedItems(s.stream, s.subscribe, { sleep: s.sleep });
    s.push("a");
    for await (const _ of items) break;
    assert.equal(s.subscribed(), 0);
  });
});

Deno.test("pushedItems() takes items in the order of the queue it is given", async () => {
  const s = setup();
  const items = pushedItems(s.stream, s.subscribe, { sleep: s.sleep, queue: new LatestKeys(2) });
  for (const id of ["a", "b", "a", "c"]) s.push(id);
  assert.deepEqual(
    [(await items.next()).value, (await items.next()).value],
    ["a", "c"],
  );
  items.close();
});

Deno.test("LatestKeys moves a key pushed again to the end and keeps the latest limit", () => {
  const q = new LatestKeys<string>(3);
  for (const k of ["a", "b", "c", "a", "d"]) q.push(k);
  assert.deepEqual([q.shift(), q.shift(), q.shift(), q.shift()], ["c", "a", "d", undefined]);
  assert.throws(
    () => new LatestKeys(0),
    new RangeError(
      "Cannot keep the latest keys: limit must be a whole number >= 1: current value is 0",
    ),
  );
});
