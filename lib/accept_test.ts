import assert from "node:assert/strict";
import { z } from "zod";
import { generateOrders } from "../datasets/orders.ts";
import { generatePurchases, readWords } from "../datasets/purchases.ts";
import { acceptorOf } from "./accept.ts";
import { MailRetrySchema } from "./mail_delivery.ts";
import { OrderRequestedSchema, OrderTransitionSchema } from "./order.ts";
import { PurchaseSchema } from "./purchase.ts";

/** Small seeded PRNG for the mutations. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

const NASTY: unknown[] = [
  null,
  undefined,
  0,
  -1,
  1.5,
  2 ** 53,
  NaN,
  "",
  "x",
  "a\u0000b",
  "a\r\nBcc: x@y.cl",
  "\u0085",
  "é".repeat(300),
  "x".repeat(41),
  "x".repeat(65),
  "not-an-email",
  "a@b",
  "a@b.cl",
  "2026-02-30T00:00:00Z",
  "2026-11-24T12:00:00+01:00",
  "2026-11-24T12:00:00.000Z",
  "2026-11-24",
  true,
  [],
  {},
  [1],
  { extra: 1 },
  "recibido",
  "Purchase",
  130,
  131,
  100_000,
  100_001,
];

/** Every path to a leaf of a JSON value. */
function paths(v: unknown, at: string[] = []): string[][] {
  if (typeof v !== "object" || v === null) return [at];
  return [at, ...Object.entries(v).flatMap(([k, x]) => paths(x, [...at, k]))];
}

function mutate(value: unknown, path: string[], to: unknown): unknown {
  const copy = structuredClone(value) as Record<string, unknown>;
  if (path.length === 0) return to;
  let o = copy;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
  const last = path.at(-1)!;
  if (to === undefined) delete o[last];
  else o[last] = to;
  return copy;
}

/** The acceptor never says yes where zod says no, and where it says yes zod returns the value. */
function checkSound(schema: z.ZodType, valid: readonly unknown[], seed: number): number {
  const accept = acceptorOf(schema);
  assert.ok(accept !== null, "the schema compiles");
  const rnd = random(seed);
  let accepted = 0;
  const check = (v: unknown) => {
    const zod = schema.safeParse(v);
    if (accept(v)) {
      accepted++;
      assert.ok(zod.success, `accepted what zod refuses: ${JSON.stringify(v)}`);
      assert.deepEqual(zod.data, v);
    }
  };
  for (const v of valid) {
    assert.ok(accept(v), `a valid value is accepted: ${JSON.stringify(v)}`);
    check(v);
    const ps = paths(v);
    for (let i = 0; i < 40; i++) {
      const p = ps[Math.floor(rnd() * ps.length)]!;
      check(mutate(v, p, NASTY[Math.floor(rnd() * NASTY.length)]));
    }
    check({ ...(v as object), extra: 1 });
  }
  return accepted;
}

Deno.test("acceptorOf() accepts only what zod accepts unchanged", async (t) => {
  const words = await readWords();
  const generated = generatePurchases(words, { count: 300, seed: 5, startMs: 0, intervalMs: 1000 });
  // As the second report's generator writes them: no envelope, no event time, visits with "".
  const bare = generated.slice(0, 100).map(({ v: _v, type: _t, ts: _ts, ...rest }) =>
    rest.taps === null ? { ...rest, taps: "", folio: "" } : rest
  );
  const purchases = [...generated, ...bare];
  const now = "2026-11-24T12:00:00.000Z";
  const orders = generateOrders(100, 9).map((order, i) => ({
    v: 1,
    type: "OrderRequested",
    id: `o-${i}`,
    order,
    requestedAt: now,
  }));
  const transitions = orders.map((o, i) => ({
    v: 1,
    type: "OrderTransition",
    id: o.id,
    order: o.order,
    state: "preparando",
    seq: 2,
    at: now,
    requestedAt: now,
    next: i % 2 ? null : { state: "entregando", dueAt: now },
  }));
  const retries = transitions.map((transition) => ({
    v: 1,
    type: "MailRetry",
    transition,
    attempts: 1,
    firstAttemptAt: now,
    dueAt: now,
    lastError: "451 try later",
  }));
  const cases: [string, z.ZodType, unknown[]][] = [
    ["PurchaseSchema", PurchaseSchema, purchases],
    ["OrderRequestedSchema", OrderRequestedSchema, orders],
    ["OrderTransitionSchema", OrderTransitionSchema, transitions],
    ["MailRetrySchema", MailRetrySchema, retries],
  ];
  for (const [name, schema, valid] of cases) {
    await t.step(name, () => {
      assert.ok(checkSound(schema, valid, 7) >= valid.length);
    });
  }
});

Deno.test("acceptorOf() gives up on what it does not know", async (t) => {
  const cases: [string, z.ZodType][] = [
    ["a transform", z.string().transform((s) => s.length)],
    ["a default", z.object({ a: z.string().default("x") })],
    ["a trim", z.string().trim()],
    ["coercion", z.coerce.number()],
    ["a union with an object (zod would return a copy)", z.union([z.object({}), z.number()])],
    ["a union with a transform", z.union([z.string().transform((s) => s.length), z.number()])],
  ];
  for (const [name, schema] of cases) {
    await t.step(name, () => assert.equal(acceptorOf(schema), null));
  }
});

Deno.test("acceptorOf() says false where zod would strip a key or refuse", () => {
  const accept = acceptorOf(z.object({ n: z.int().min(1), s: z.string().max(3).nullable() }))!;
  assert.equal(accept({ n: 1, s: null }), true);
  assert.equal(accept({ n: 1, s: "abc" }), true);
  assert.equal(accept({ n: 1, s: "abcd" }), false);
  assert.equal(accept({ n: 1.5, s: null }), false);
  assert.equal(accept({ n: 1 }), false);
  assert.equal(accept({ n: 1, s: null, extra: true }), false);
  assert.equal(accept([]), false);
});

Deno.test("acceptorOf() says false at the edges zod guards", async (t) => {
  await t.step("a number that is not finite: zod refuses it", () => {
    const accept = acceptorOf(z.number())!;
    for (const n of [NaN, Infinity, -Infinity]) {
      assert.equal(z.number().safeParse(n).success, false);
      assert.equal(accept(n), false, String(n));
    }
    assert.equal(accept(Number.MAX_VALUE), true);
  });
  await t.step("an object that is not plain: zod returns a plain copy", () => {
    const schema = z.object({ n: z.number() });
    const accept = acceptorOf(schema)!;
    class Order {
      n = 2;
    }
    assert.equal(accept({ n: 2 }), true);
    assert.equal(accept(new Order()), false);
    assert.equal(accept(Object.create({ n: 2 })), false);
  });
  await t.step("an unknown key first, within the count of known keys: zod strips it", () => {
    const schema = z.object({ a: z.number().optional(), b: z.number().optional() });
    const accept = acceptorOf(schema)!;
    assert.deepEqual(schema.parse({ extra: 1 }), {});
    assert.equal(accept({ extra: 1 }), false);
    assert.equal(accept({ a: 1, extra: 1 }), false);
    assert.equal(accept({ a: 1 }), true);
  });
});
