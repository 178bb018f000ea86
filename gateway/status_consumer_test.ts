import assert from "node:assert/strict";
import type { InRecord, KafkaClient, ReaderOptions } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import { stepRecord } from "../lib/order_status.ts";
import { OrderStore } from "./order_store.ts";
import { startStatusConsumer } from "./status_consumer.ts";

const TOPIC = "order_status";
const order = { name: "Pizza", price: 12990, email: "a@b.cl" };

function step(id: string, partition: number, offset: number): InRecord {
  const r = stepRecord(TOPIC, {
    v: 1,
    type: "OrderTransition",
    id,
    order,
    state: "recibido",
    seq: 1,
    at: "2026-01-01T00:00:00.000Z",
    requestedAt: "2026-01-01T00:00:00.000Z",
    next: null,
  }, null);
  return {
    topic: TOPIC,
    partition,
    offset: String(offset),
    key: r.key,
    value: new TextEncoder().encode(r.value),
    headers: {},
    timestamp: 0,
  };
}

/** A Kafka client whose partition 0 holds `records`, read only when `release()` is called. */
function fakeKafka(records: InRecord[], high: number) {
  let release = () => {};
  const gate = new Promise<void>((r) => release = r);
  const reads: { from: string; to: string }[] = [];
  let tail: ReaderOptions | null = null;
  const kafka = {
    endOffsets: () => Promise.resolve([{ partition: 0, low: "0", high: String(high) }]),
    readRange: async (
      _topic: string,
      _partition: number,
      from: string,
      to: string,
      onRecords: (r: readonly InRecord[]) => void,
    ) => {
      reads.push({ from, to });
      await gate;
      onRecords(records.filter((r) => BigInt(r.offset) >= BigInt(from)));
    },
    reader: (options: ReaderOptions) => {
      tail = options;
      return { ready: Promise.resolve(), running: () => true, stop: () => Promise.resolve() };
    },
  } as unknown as KafkaClient;
  return { kafka, release, reads, tail: () => tail };
}

const quiet = createLogger("test", "error");

Deno.test("startStatusConsumer() is not ready until the store holds what the topic held at start", async () => {
  const store = new OrderStore(":memory:", { topic: TOPIC });
  try {
    // Offsets 0 and 2 are orders; 3 is a commit marker: the end offset is 4.
    const fake = fakeKafka([step("o1", 0, 0), step("o2", 0, 2)], 4);
    const consumer = startStatusConsumer(fake.kafka, store, TOPIC, quiet);
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(consumer.ready(), false);
    assert.equal(store.get("o2"), undefined);
    fake.release();
    await consumer.caughtUp;
    assert.equal(consumer.ready(), true);
    assert.equal(store.get("o2")?.state, "recibido");
    assert.equal(consumer.applied(), 2);
    // Past the marker, and the reader follows from exactly there.
    assert.deepEqual(store.offsets(), new Map([[0, "4"]]));
    assert.equal(fake.tail()?.startAt?.(TOPIC, 0), "4");
    await consumer.stop();
  } finally {
    store.close();
  }
});

Deno.test("startStatusConsumer() resumes from the stored offset, and rebuilds a store ahead of the topic", async (t) => {
  await t.step("resumes", async () => {
    const store = new OrderStore(":memory:", { topic: TOPIC });
    store.apply(0, [step("o1", 0, 0)], "1");
    const fake = fakeKafka([step("o1", 0, 0), step("o2", 0, 1)], 2);
    fake.release();
    const consumer = startStatusConsumer(fake.kafka, store, TOPIC, quiet);
    await consumer.caughtUp;
    assert.deepEqual(fake.reads, [{ from: "1", to: "2" }]);
    assert.equal(consumer.applied(), 1);
    await consumer.stop();
    store.close();
  });
  await t.step("rebuilds", async () => {
    const store = new OrderStore(":memory:", { topic: TOPIC });
    store.apply(0, [step("gone", 0, 0)], "50");
    const fake = fakeKafka([step("o1", 0, 0)], 1);
    fake.release();
    const consumer = startStatusConsumer(fake.kafka, store, TOPIC, quiet);
    await consumer.caughtUp;
    assert.deepEqual(fake.reads, [{ from: "0", to: "1" }]);
    assert.equal(store.get("gone"), undefined);
    assert.equal(store.get("o1")?.state, "recibido");
    await consumer.stop();
    store.close();
  });
});

Deno.test("startStatusConsumer() is not ready any more once a write to the store fails", async () => {
  const store = new OrderStore(":memory:", { topic: TOPIC });
  const fake = fakeKafka([], 0);
  fake.release();
  const consumer = startStatusConsumer(fake.kafka, store, TOPIC, quiet);
  await consumer.caughtUp;
  assert.equal(consumer.ready(), true);
  store.close();
  const batch = { topic: TOPIC, partition: 0, records: [step("o1", 0, 0)] };
  assert.throws(() => fake.tail()!.onBatch(batch));
  assert.equal(consumer.ready(), false);
  await consumer.stop();
});

Deno.test("startStatusConsumer() fails its catch-up on a failed write, even when the client reads the batch again, and saves no offset past it", async () => {
  const store = new OrderStore(":memory:", { topic: TOPIC });
  const records = [step("o1", 0, 0), step("o2", 0, 1)];
  let calls = 0;
  const kafka = {
    endOffsets: () => Promise.resolve([{ partition: 0, low: "0", high: "2" }]),
    // As both clients do: a handler that threw gets the batch again, and then the range ends.
    readRange: (
      _t: string,
      _p: number,
      _from: string,
      _to: string,
      onRecords: (r: readonly InRecord[]) => void,
    ) => {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          calls++;
          onRecords(records);
          return Promise.resolve();
        } catch { /* read again */ }
      }
      return Promise.resolve();
    },
    reader: () => ({
      ready: Promise.resolve(),
      running: () => true,
      stop: () => Promise.resolve(),
    }),
  } as unknown as KafkaClient;
  // The first write fails (a full disk, say); the store works again afterwards.
  const write = store.apply.bind(store);
  let writes = 0;
  store.apply = (...args) => {
    if (++writes === 1) throw new Error("disk I/O error");
    return write(...args);
  };
  const consumer = startStatusConsumer(kafka, store, TOPIC, quiet);
  await assert.rejects(consumer.caughtUp, /disk I\/O error/);
  assert.equal(consumer.ready(), false);
  assert.equal(calls, 2, "the client did read the batch again");
  assert.deepEqual([...store.offsets()], [], "no offset saved past the records not written");
  assert.equal(store.get("o1"), undefined);
  await consumer.stop();
});

Deno.test("startStatusConsumer() forgets finished orders past the retention once caught up", async () => {
  const store = new OrderStore(":memory:", { topic: TOPIC });
  const done = [1, 2, 3, 4].map((seq, i) => {
    const r = step("old", 0, i);
    const fact = JSON.parse(new TextDecoder().decode(r.value!));
    const states = ["recibido", "preparando", "entregando", "finalizado"];
    return {
      ...r,
      key: `old/step/${seq}`,
      value: new TextEncoder().encode(JSON.stringify({ ...fact, seq, state: states[i] })),
    };
  });
  const fake = fakeKafka([...done, step("recent", 0, 4)], 5);
  fake.release();
  const consumer = startStatusConsumer(fake.kafka, store, TOPIC, quiet, {
    retentionMs: 86_400_000,
  });
  try {
    await consumer.caughtUp;
    // Finished on 2026-01-01, more than a day before now.
    assert.equal(store.get("old"), undefined);
    assert.equal(store.get("recent")?.state, "recibido", "an order not finished stays");
  } finally {
    await consumer.stop();
    store.close();
  }
});

Deno.test("startStatusConsumer() asks again for the end offsets while a new topic has no leader yet", async () => {
  const store = new OrderStore(":memory:", { topic: TOPIC });
  const fake = fakeKafka([step("o1", 0, 0)], 1);
  fake.release();
  let refusals = 2;
  const endOffsets = fake.kafka.endOffsets.bind(fake.kafka);
  fake.kafka.endOffsets = (topic: string) =>
    refusals-- > 0
      ? Promise.reject(new Error("This server is not the leader for that topic-partition"))
      : endOffsets(topic);
  const consumer = startStatusConsumer(fake.kafka, store, TOPIC, quiet);
  try {
    await consumer.caughtUp;
    assert.equal(store.get("o1")?.state, "recibido");
  } finally {
    await consumer.stop();
    store.close();
  }
});
