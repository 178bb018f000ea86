import assert from "node:assert/strict";
import { join } from "node:path";
import type { OrderTransition } from "../lib/order.ts";
import { erasedRecords, mailRecord, stepRecord } from "../lib/order_status.ts";
import { OrderStore, type StatusRecord } from "./order_store.ts";
import type { OrderEvent } from "./order_view.ts";

const TOPIC = "order_status";
const order = { name: "Pizza", price: 12990, email: "a@b.cl" };
const encoder = new TextEncoder();

function step(id: string, seq: number, traceId: string | null = null): StatusRecord {
  const states = ["recibido", "preparando", "entregando", "finalizado"] as const;
  const t: OrderTransition = {
    v: 1,
    type: "OrderTransition",
    id,
    order,
    state: states[seq - 1]!,
    seq,
    at: `2026-01-01T00:00:0${seq}.000Z`,
    requestedAt: "2026-01-01T00:00:00.000Z",
    next: null,
  };
  const r = stepRecord(TOPIC, t, traceId);
  return { key: r.key, value: encoder.encode(r.value) };
}

function mail(id: string, status: "sent" | "failed", attempts = 1): StatusRecord {
  const r = mailRecord(TOPIC, {
    v: 1,
    type: "OrderNotified",
    id,
    state: "recibido",
    to: "a@b.cl",
    messageId: `<${id}-recibido@despacho>`,
    status,
    attempts,
    at: "2026-01-01T00:00:01.500Z",
  });
  return { key: r.key, value: encoder.encode(r.value) };
}

function tempPath(): string {
  return join(Deno.makeTempDirSync({ prefix: "order-store-" }), "store.sqlite");
}

Deno.test("OrderStore.apply() upserts steps idempotently and keeps one mail per state", () => {
  const store = new OrderStore(":memory:", { topic: TOPIC });
  try {
    store.apply(0, [step("o1", 2), step("o1", 1, "a".repeat(32)), step("o1", 2)], "3");
    store.apply(1, [mail("o1", "failed", 1), mail("o1", "sent", 2)], "2");
    const got = store.get("o1");
    assert.equal(got?.state, "preparando");
    assert.deepEqual(got?.history.map((h) => h.seq), [1, 2]);
    assert.equal(got?.traceId, "a".repeat(32));
    assert.deepEqual(got?.notifications.map((n) => [n.status, n.attempts]), [["sent", 2]]);
    assert.deepEqual(got?.order, order);
    assert.equal(store.size, 1);
  } finally {
    store.close();
  }
});

Deno.test("OrderStore.apply() moves the partition's offset with the rows, never backwards", () => {
  const store = new OrderStore(":memory:", { topic: TOPIC });
  try {
    assert.deepEqual(store.offsets(), new Map());
    store.apply(0, [step("o1", 1)], "5");
    store.apply(3, [], "9");
    store.apply(0, [step("o1", 1)], "4");
    assert.deepEqual(store.offsets(), new Map([[0, "5"], [3, "9"]]));
  } finally {
    store.close();
  }
});

Deno.test("OrderStore.apply() leaves neither rows nor offset when the transaction fails", () => {
  const path = tempPath();
  const store = new OrderStore(path, { topic: TOPIC });
  try {
    store.apply(0, [step("o1", 1)], "1");
    const poisoned = {
      key: "o2/step/1",
      get value(): Uint8Array {
        throw new Error("disk gone");
      },
    } as unknown as StatusRecord;
    assert.throws(() => store.apply(0, [step("o3", 1), poisoned], "3"), /disk gone/);
    assert.equal(store.get("o3"), undefined);
    assert.deepEqual(store.offsets(), new Map([[0, "1"]]));
  } finally {
    store.close();
  }
});

Deno.test("OrderStore resumes from the offsets and rows on disk after a reopen", () => {
  const path = tempPath();
  const first = new OrderStore(path, { topic: TOPIC });
  first.apply(0, [step("o1", 1), step("o2", 1)], "2");
  first.apply(1, [step("o1", 2)], "1");
  first.accept("o9", order, null);
  first.close();
  const again = new OrderStore(path, { topic: TOPIC });
  try {
    assert.deepEqual(again.offsets(), new Map([[0, "2"], [1, "1"]]));
    assert.equal(again.get("o1")?.state, "preparando");
    assert.equal(again.get("o9")?.state, "recibido", "an order this instance accepted");
    assert.deepEqual(again.recent(2).map((s) => s.id), ["o9", "o2"]);
  } finally {
    again.close();
  }
});

Deno.test("OrderStore starts empty for another topic and after reset(): a rebuild from the topic", () => {
  const path = tempPath();
  const first = new OrderStore(path, { topic: TOPIC });
  first.apply(0, [step("o1", 1)], "1");
  first.close();
  const other = new OrderStore(path, { topic: "another_status" });
  try {
    assert.equal(other.get("o1"), undefined);
    assert.deepEqual(other.offsets(), new Map());
    other.apply(0, [step("o2", 1)], "1");
    other.reset();
    assert.equal(other.size, 0);
    assert.deepEqual(other.offsets(), new Map());
    other.apply(0, [step("o2", 1), step("o2", 2)], "2");
    assert.equal(other.get("o2")?.state, "preparando");
  } finally {
    other.close();
  }
});

Deno.test("OrderStore.apply() erases on tombstones and skips what is not a status record", () => {
  const store = new OrderStore(":memory:", { topic: TOPIC });
  try {
    const done = store.apply(0, [
      step("o1", 1),
      mail("o1", "sent"),
      { key: "o1/step/9x", value: encoder.encode("{}") },
      { key: "o2/step/1", value: encoder.encode("not json") },
      { key: null, value: null },
    ], "5");
    assert.deepEqual(done, { applied: 2, skipped: 3 });
    store.apply(0, [{ key: "o1/mail/recibido", value: null }], "6");
    assert.deepEqual(store.get("o1")?.notifications, []);
    store.apply(0, [{ key: "o1/step/1", value: null }], "7");
    assert.equal(store.get("o1"), undefined);
  } finally {
    store.close();
  }
});

Deno.test("OrderStore tells subscribers and watchers of changes once committed, not of repeats", () => {
  const store = new OrderStore(":memory:", { topic: TOPIC });
  try {
    const events: OrderEvent[] = [];
    const watched: string[] = [];
    const unsubscribe = store.subscribe("o1", (e) => events.push(e));
    const unwatch = store.watch((s) => watched.push(`${s.id}:${s.state}`));
    store.accept("o1", order, null);
    store.apply(0, [step("o1", 1)], "1");
    store.apply(0, [step("o1", 1)], "2");
    store.apply(0, [mail("o1", "sent")], "3");
    assert.deepEqual(events.map((e) => e.kind), ["state", "notification"]);
    assert.deepEqual(watched, ["o1:recibido", "o1:recibido", "o1:recibido"]);
    unsubscribe();
    unwatch();
    store.apply(0, [step("o1", 2)], "4");
    assert.equal(events.length, 2);
  } finally {
    store.close();
  }
});

Deno.test("OrderStore.prune() forgets the orders that finished before the given time, and only those", () => {
  const store = new OrderStore(":memory:", { topic: TOPIC });
  try {
    // step() puts finalizado at 00:00:04 and earlier states a second apart.
    store.apply(0, [1, 2, 3, 4].map((seq) => step("done", seq)), "4");
    store.apply(0, [mail("done", "sent")], "5");
    store.apply(0, [1, 2].map((seq) => step("moving", seq)), "7");
    assert.equal(store.prune("2026-01-01T00:00:04.000Z"), 0);
    assert.equal(store.prune("2026-01-01T00:00:05.000Z"), 1);
    assert.equal(store.get("done"), undefined);
    assert.equal(store.get("moving")?.state, "preparando");
    assert.equal(store.size, 1);
  } finally {
    store.close();
  }
});

Deno.test("OrderStore shows and tells an order's states in seq order when a later step arrives first", () => {
  const store = new OrderStore(":memory:", { topic: TOPIC });
  try {
    const told: number[] = [];
    store.subscribe("o1", (e) => {
      if (e.kind === "state") told.push(e.entry.seq);
    });
    store.apply(0, [step("o1", 1), step("o1", 2)], "2");
    store.apply(1, [step("o1", 4)], "1");
    assert.equal(store.get("o1")?.state, "preparando", "finalizado waits for entregando");
    assert.deepEqual(told, [1, 2]);
    store.apply(2, [step("o1", 3)], "1");
    assert.deepEqual(store.get("o1")?.history.map((h) => h.seq), [1, 2, 3, 4]);
    assert.equal(store.get("o1")?.state, "finalizado");
    assert.deepEqual(told, [1, 2, 3, 4]);
  } finally {
    store.close();
  }
});

function erasedMarker(id: string): StatusRecord {
  const marker = erasedRecords(TOPIC, {
    v: 1,
    type: "OrderErased",
    id,
    at: "2026-01-01T00:00:05.000Z",
  }).find((r) => r.value !== null)!;
  return { key: marker.key, value: encoder.encode(marker.value!) };
}

Deno.test("OrderStore forgets an erased order for good: the marker, late facts from other partitions, a rebuild, a reopen", () => {
  const path = tempPath();
  const store = new OrderStore(path, { topic: TOPIC });
  try {
    store.apply(0, [step("o1", 1), step("o2", 1)], "2");
    store.apply(1, [mail("o1", "sent")], "1");
    const told: OrderEvent[] = [];
    store.subscribe("o1", (e) => told.push(e));
    store.apply(2, [erasedMarker("o1")], "1");
    assert.equal(store.get("o1"), undefined);
    assert.deepEqual(told, [{ kind: "erased" }]);
    // A step and a mail read later from partitions behind the marker's bring nothing back.
    store.apply(0, [step("o1", 2)], "3");
    store.apply(1, [mail("o1", "sent", 2)], "2");
    assert.equal(store.get("o1"), undefined);
    assert.deepEqual(store.recent(10).map((s) => s.id), ["o2"]);
    assert.equal(told.length, 1, "nothing told after the erasure");
  } finally {
    store.close();
  }
  // After a restart, the erasure is still there.
  const reopened = new OrderStore(path, { topic: TOPIC });
  try {
    reopened.apply(0, [step("o1", 3)], "4");
    assert.equal(reopened.get("o1"), undefined);
    assert.equal(reopened.get("o2")?.state, "recibido");
  } finally {
    reopened.close();
  }
  // A new store rebuilding from the topic, the marker's partition read first.
  const fresh = new OrderStore(":memory:", { topic: TOPIC });
  try {
    fresh.apply(2, [erasedMarker("o1")], "1");
    fresh.apply(0, [step("o1", 1), step("o2", 1), step("o1", 2)], "3");
    fresh.apply(1, [mail("o1", "sent")], "1");
    assert.equal(fresh.get("o1"), undefined);
    assert.equal(fresh.size, 1);
  } finally {
    fresh.close();
  }
});

Deno.test("OrderStore.erase() forgets at once and tells subscribers; an unknown id is said unknown", () => {
  const store = new OrderStore(":memory:", { topic: TOPIC });
  try {
    store.accept("o1", order);
    const told: OrderEvent[] = [];
    store.subscribe("o1", (e) => told.push(e));
    assert.equal(store.erase("o1"), true);
    assert.equal(store.get("o1"), undefined);
    assert.deepEqual(told, [{ kind: "erased" }]);
    store.apply(0, [step("o1", 1)], "1");
    assert.equal(store.get("o1"), undefined, "its first step, read after, changes nothing");
    assert.equal(store.erase("nobody"), false);
  } finally {
    store.close();
  }
});
