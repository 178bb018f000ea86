import assert from "node:assert/strict";
import type { KafkaProducer } from "../lib/kafka/mod.ts";
import { ProducerPool } from "./producer_pool.ts";

/** Producers that count what is done to them; `connectFails` makes the next connect fail. */
function fakeProducers() {
  const made: { id: number; connects: number; closed: boolean; sending: number }[] = [];
  const state = { connectFails: false };
  const create = (): KafkaProducer => {
    const p = { id: made.length, connects: 0, closed: false, sending: 0 };
    made.push(p);
    return {
      connect: () => {
        if (state.connectFails) return Promise.reject(new Error("Connection refused"));
        p.connects++;
        return Promise.resolve();
      },
      send: () => Promise.resolve(),
      close: () => {
        p.closed = true;
        return Promise.resolve();
      },
      // The tests read which producer they were lent through this.
      id: p.id,
    } as KafkaProducer;
  };
  return { made, state, create };
}
const idOf = (p: KafkaProducer) => (p as unknown as { id: number }).id;

Deno.test("ProducerPool.use() lends each producer to one send at a time, and makes one only when all are lent", async () => {
  const { made, create } = fakeProducers();
  const pool = new ProducerPool(create, 4);
  const release: (() => void)[] = [];
  const lent: number[] = [];
  const uses = [0, 1, 2].map(() =>
    pool.use((p) => {
      lent.push(idOf(p));
      return new Promise<void>((r) => release.push(r));
    })
  );
  for (let i = 0; i < 10 && lent.length < 3; i++) await Promise.resolve();
  assert.deepEqual(lent.toSorted(), [0, 1, 2], "three sends, three producers");
  assert.ok(made.every((p) => p.connects === 1), "each connected before its first send");
  for (const r of release) r();
  await Promise.all(uses);
  await pool.use((p) => {
    lent.push(idOf(p));
    return Promise.resolve();
  });
  assert.equal(pool.size, 3, "an idle producer is lent again");
  await pool.close();
  assert.ok(made.every((p) => p.closed));
});

Deno.test("ProducerPool.use() refuses a send beyond max producers lent", async () => {
  const { create } = fakeProducers();
  const pool = new ProducerPool(create, 1);
  let release: () => void = () => {};
  const first = pool.use(() => new Promise<void>((r) => release = r));
  await assert.rejects(pool.use(() => Promise.resolve()), {
    name: "RangeError",
    message: "Cannot lend a producer: all 1 are in use",
  });
  release();
  await first;
  assert.throws(() => new ProducerPool(create, 0), {
    name: "RangeError",
    message: "Cannot create producer pool: max must be a whole number >= 1: current value is 0",
  });
});

Deno.test("ProducerPool keeps no producer that could not connect", async () => {
  const { made, state, create } = fakeProducers();
  const pool = new ProducerPool(create, 1);
  state.connectFails = true;
  await assert.rejects(pool.use(() => Promise.resolve()), { message: "Connection refused" });
  assert.equal(pool.size, 0);
  assert.equal(made[0]!.closed, true);
  state.connectFails = false;
  await pool.connect();
  await pool.use((p) => {
    assert.equal(idOf(p), 1, "a new one, connected");
    return Promise.resolve();
  });
  assert.equal(pool.size, 1);
});

Deno.test("ProducerPool lends no producer and makes none once closed", async () => {
  const { made, create } = fakeProducers();
  const pool = new ProducerPool(create, 4);
  await pool.connect();
  await pool.close();
  const closed = {
    name: "DespachoError",
    code: "KAFKA_UNAVAILABLE",
    message: "Cannot lend a producer: the pool is closed",
  };
  let called = false;
  await assert.rejects(
    pool.use(() => {
      called = true;
      return Promise.resolve();
    }),
    closed,
  );
  await assert.rejects(pool.connect(), closed);
  assert.equal(called, false, "the send is not attempted");
  assert.equal(made.length, 1, "no producer made after close()");
});

Deno.test("ProducerPool.use() does not lend a producer still connecting when the pool closes", async () => {
  let connected: () => void = () => {};
  const closes: number[] = [];
  const pool = new ProducerPool(() =>
    ({
      connect: () => new Promise<void>((r) => connected = r),
      send: () => Promise.resolve(),
      close: () => {
        closes.push(1);
        return Promise.resolve();
      },
    }) as KafkaProducer, 1);
  let called = false;
  const using = pool.use(() => {
    called = true;
    return Promise.resolve();
  });
  await Promise.resolve();
  await pool.close();
  connected();
  await assert.rejects(using, { code: "KAFKA_UNAVAILABLE" });
  assert.equal(called, false);
  assert.ok(closes.length >= 1, "closed");
  assert.equal(pool.size, 0);
});
