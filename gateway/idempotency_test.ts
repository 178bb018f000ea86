import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash, createHmac } from "node:crypto";
import {
  bodyDigest,
  IdempotencyKeySchema,
  IdempotencyStore,
  orderIdsFromKeys,
  randomOrderId,
} from "./idempotency.ts";

/** A store on a clock the test moves, and a `create` that counts its calls. */
function setup(options: { maxKeys?: number; ttlMs?: number } = {}) {
  const clock = { now: 1_000_000 };
  const store = new IdempotencyStore({ ...options, now: () => clock.now });
  let calls = 0;
  const create = (id: string) => () => {
    calls++;
    return Promise.resolve(id);
  };
  return { clock, store, create, calls: () => calls };
}

/** A promise settled from outside, for a first request still being written. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

Deno.test("IdempotencyStore.run() creates once per key and body, and answers a retry with the first id", async () => {
  const { store, create, calls } = setup();
  assert.deepEqual(await store.run("k1", "body-a", create("id-1")), { id: "id-1", created: true });
  assert.deepEqual(await store.run("k1", "body-a", create("id-2")), { id: "id-1", created: false });
  assert.deepEqual(await store.run("k2", "body-a", create("id-3")), { id: "id-3", created: true });
  assert.equal(calls(), 2);
});

Deno.test("IdempotencyStore.run() refuses the same key with another body", async () => {
  const { store, create, calls } = setup();
  await store.run("k1", "body-a", create("id-1"));
  await assert.rejects(() => store.run("k1", "body-b", create("id-2")), {
    name: "IdempotencyConflict",
    message: 'Cannot reuse Idempotency-Key "k1": it was first used with a different body',
  });
  assert.equal(calls(), 1);
  assert.deepEqual(await store.run("k1", "body-a", create("id-3")), { id: "id-1", created: false });
});

Deno.test("IdempotencyStore.run() honours a key for ttlMs, to the millisecond", async (t) => {
  const { clock, store, create } = setup({ ttlMs: 60_000 });
  const start = clock.now;
  await store.run("k", "body-a", create("id-1"));
  await t.step("at ttlMs - 1 ms a retry still gets the first id", async () => {
    clock.now = start + 59_999;
    assert.deepEqual(await store.run("k", "body-a", create("id-2")), {
      id: "id-1",
      created: false,
    });
  });
  await t.step("at ttlMs another body is no conflict: the key is new", async () => {
    clock.now = start + 60_000;
    assert.deepEqual(await store.run("k", "body-b", create("id-3")), { id: "id-3", created: true });
  });
  await t.step("the renewed key counts its age from its second use", async () => {
    clock.now = start + 60_000 + 59_999;
    assert.deepEqual(await store.run("k", "body-b", create("id-4")), {
      id: "id-3",
      created: false,
    });
  });
});

Deno.test("IdempotencyStore.run() keeps maxKeys keys and forgets the oldest beyond", async () => {
  const { store, create, calls } = setup({ maxKeys: 2 });
  await store.run("a", "body", create("id-a"));
  await store.run("b", "body", create("id-b"));
  assert.deepEqual(
    await store.run("a", "body", create("x")),
    { id: "id-a", created: false },
    "exactly maxKeys keys: none forgotten",
  );
  // Oldest by first use, as the age is: answering a retry does not make a key younger.
  await store.run("c", "body", create("id-c"));
  assert.deepEqual(await store.run("b", "body", create("x")), { id: "id-b", created: false });
  assert.deepEqual(
    await store.run("a", "body", create("id-a2")),
    { id: "id-a2", created: true },
    "a third key pushed out the oldest, a",
  );
  assert.deepEqual(await store.run("c", "body", create("x")), { id: "id-c", created: false });
  assert.equal(calls(), 4);
});

Deno.test("IdempotencyStore.run() counts a renewed key as the newest when it must forget one", async () => {
  const { clock, store, create } = setup({ maxKeys: 2, ttlMs: 1000 });
  await store.run("a", "body", create("id-a"));
  clock.now += 1;
  await store.run("b", "body", create("id-b"));
  clock.now += 999;
  assert.deepEqual(await store.run("a", "body", create("id-a2")), { id: "id-a2", created: true });
  await store.run("c", "body", create("id-c"));
  assert.deepEqual(
    await store.run("a", "body", create("x")),
    { id: "id-a2", created: false },
    "b, not the renewed a, was the oldest",
  );
  assert.deepEqual(await store.run("b", "body", create("id-b2")), { id: "id-b2", created: true });
});

Deno.test("IdempotencyStore.run() lets concurrent retries share the first write, and frees the key when it fails", async (t) => {
  const { store, create } = setup();
  await t.step("a retry while the first write is under way waits for its id", async () => {
    const first = deferred<string>();
    const one = store.run("k", "body", () => first.promise);
    const two = store.run("k", "body", create("other"));
    first.resolve("id-1");
    assert.deepEqual(await one, { id: "id-1", created: true });
    assert.deepEqual(await two, { id: "id-1", created: false });
  });
  await t.step("a failed write fails its retries too and frees the key", async () => {
    const first = deferred<string>();
    const one = store.run("f", "body", () => first.promise);
    const two = store.run("f", "body", create("other"));
    first.reject(new Error("Kafka did not acknowledge"));
    await assert.rejects(one, { message: "Kafka did not acknowledge" });
    await assert.rejects(two, { message: "Kafka did not acknowledge" });
    assert.deepEqual(await store.run("f", "body", create("id-2")), { id: "id-2", created: true });
  });
});

Deno.test("IdempotencyStore.run() keeps a newer binding when an expired first write fails late", async () => {
  const { clock, store, create } = setup({ ttlMs: 1000 });
  const slow = deferred<string>();
  const old = store.run("k", "body", () => slow.promise);
  clock.now += 1000;
  assert.deepEqual(await store.run("k", "body", create("id-new")), { id: "id-new", created: true });
  slow.reject(new Error("timed out"));
  await assert.rejects(old, { message: "timed out" });
  assert.deepEqual(await store.run("k", "body", create("x")), { id: "id-new", created: false });
});

Deno.test("IdempotencyKeySchema accepts 1 to 200 visible ASCII characters", async (t) => {
  const cases: [string, string, boolean][] = [
    ["one character", "a", true],
    ["200 characters", "a".repeat(200), true],
    ["every visible ASCII character", "!~09AZaz{}[]\"'\\", true],
    ["empty", "", false],
    ["201 characters", "a".repeat(201), false],
    ["a space", "has space", false],
    ["a tab", "tab\tkey", false],
    ["DEL", "a\x7f", false],
    ["non-ASCII", "clave-ñ", false],
  ];
  for (const [name, key, ok] of cases) {
    await t.step(name, () => assert.equal(IdempotencyKeySchema.safeParse(key).success, ok));
  }
});

Deno.test("orderIdsFromKeys() derives the same id from a key on every instance sharing the secret, and none without it", async () => {
  const secret = "a secret the gateway instances share, 32+ chars";
  const one = orderIdsFromKeys(secret);
  const other = orderIdsFromKeys(secret);
  const id = await one("pedido-1");
  assert.match(id, /^[A-Za-z0-9_-]{22}$/);
  assert.equal(await other("pedido-1"), id, "another instance derives the same id");
  assert.notEqual(await one("pedido-2"), id);
  assert.notEqual(
    await orderIdsFromKeys(`${secret}!`)("pedido-1"),
    id,
    "another secret, another id",
  );
  // Against a reference HMAC (node:crypto): the first 128 bits of HMAC-SHA256 under the derived key.
  const reference = createHmac("sha256", `despacho order ids\0${secret}`).update("pedido-1")
    .digest().subarray(0, 16).toString("base64url");
  assert.equal(id, reference);
  // The key alone, hashed as the old ids were, does not give it.
  const unkeyed = createHash("sha256").update("order:pedido-1").digest().subarray(0, 16)
    .toString("base64url");
  assert.notEqual(id, unkeyed);
});

Deno.test("randomOrderId() gives 128 random bits, base64url, never the same twice", () => {
  const ids = new Set(Array.from({ length: 10_000 }, () => randomOrderId()));
  assert.equal(ids.size, 10_000);
  for (const id of [...ids].slice(0, 100)) {
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(Buffer.from(id, "base64url").length, 16);
  }
});

Deno.test("bodyDigest() is a SHA-256 hex digest of the value's JSON", async () => {
  const digest = await bodyDigest({ name: "Pizza", price: 12990 });
  assert.match(digest, /^[0-9a-f]{64}$/);
  assert.equal(await bodyDigest({ name: "Pizza", price: 12990 }), digest);
  assert.notEqual(await bodyDigest({ name: "Pizza", price: 12991 }), digest);
  // sha256('{}')
  assert.equal(
    await bodyDigest({}),
    "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
  );
});
