import assert from "node:assert/strict";
import { type OrderRequested, type OrderTransition } from "./order.ts";
import { advanceOrder, eraseFirst, TakenOrders } from "./processing.ts";

const order = { name: "Pizza", price: 12990, email: "cliente@example.cl" };
const t0 = new Date("2026-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(t0.getTime() + ms);
const requested: OrderRequested = {
  v: 1,
  type: "OrderRequested",
  id: "o1",
  order,
  requestedAt: t0.toISOString(),
};

function summary(decision: ReturnType<typeof advanceOrder>) {
  if (decision.kind !== "emit") return decision;
  return decision.transitions.map((t) => ({ state: t.state, seq: t.seq, at: t.at, next: t.next }));
}

Deno.test("advanceOrder() chains every transition already due", async (t) => {
  const cases = [
    {
      name: "dwell 0 publishes all four, only the last without next",
      dwell: [0, 0, 0] as const,
      now: at(5),
      want: ["recibido", "preparando", "entregando", "finalizado"],
    },
    {
      name: "dwell 1000 publishes recibido only, owing preparando",
      dwell: [1000, 1000, 1000] as const,
      now: at(5),
      want: ["recibido"],
    },
    {
      name: "mixed dwell stops at the first stage that is not yet due",
      dwell: [0, 50, 0] as const,
      now: at(5),
      want: ["recibido", "preparando"],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const decision = advanceOrder(requested, c.now, c.dwell);
      assert.equal(decision.kind, "emit");
      if (decision.kind !== "emit") return;
      assert.deepEqual(decision.transitions.map((x) => x.state), c.want);
      assert.deepEqual(decision.transitions.map((x) => x.seq), c.want.map((_, i) => i + 1));
      const nexts = decision.transitions.map((x) => x.next);
      assert.ok(nexts.slice(0, -1).every((n) => n === null), "only the last may carry next");
    });
  }
});

Deno.test("advanceOrder() owes the next step with its due time", () => {
  const decision = advanceOrder(requested, at(5), [1000, 2000, 3000]);
  assert.deepEqual(summary(decision), [{
    state: "recibido",
    seq: 1,
    at: at(5).toISOString(),
    next: { state: "preparando", dueAt: at(1005).toISOString() },
  }]);
});

Deno.test("advanceOrder() waits until a pending transition is due, then takes it at its due time", async (t) => {
  const pending: OrderTransition = {
    v: 1,
    type: "OrderTransition",
    id: "o1",
    order,
    state: "recibido",
    seq: 1,
    at: at(0).toISOString(),
    requestedAt: t0.toISOString(),
    next: { state: "preparando", dueAt: at(1000).toISOString() },
  };
  await t.step("before due: wait", () => {
    assert.deepEqual(advanceOrder(pending, at(999), [1000, 1000, 1000]), {
      kind: "wait",
      until: at(1000),
    });
  });
  await t.step("exactly at due: takes it, at its due time", () => {
    assert.deepEqual(summary(advanceOrder(pending, at(1000), [1000, 1000, 1000])), [
      {
        state: "preparando",
        seq: 2,
        at: at(1000).toISOString(),
        next: { state: "entregando", dueAt: at(2000).toISOString() },
      },
    ]);
  });
  await t.step("late by 5 s: catches up to everything due, timestamps on schedule", () => {
    assert.deepEqual(summary(advanceOrder(pending, at(6000), [1000, 1000, 1000])), [
      { state: "preparando", seq: 2, at: at(1000).toISOString(), next: null },
      { state: "entregando", seq: 3, at: at(2000).toISOString(), next: null },
      { state: "finalizado", seq: 4, at: at(3000).toISOString(), next: null },
    ]);
  });
  await t.step("a record without next owes nothing", () => {
    assert.deepEqual(advanceOrder({ ...pending, next: null }, at(6000), [0, 0, 0]), {
      kind: "none",
    });
  });
  await t.step("a corrupt next that skips a state is refused", () => {
    const corrupt = {
      ...pending,
      next: { state: "finalizado" as const, dueAt: at(0).toISOString() },
    };
    assert.throws(() => advanceOrder(corrupt, at(1), [0, 0, 0]), {
      name: "IllegalTransitionError",
      message: "Cannot move order from recibido to finalizado: allowed next states are preparando",
    });
  });
});

Deno.test("TakenOrders takes an id once within its window and forgets it after", () => {
  const taken = new TakenOrders(60_000);
  assert.equal(taken.take("a", 0), true);
  assert.equal(taken.take("b", 1_000), true);
  assert.equal(taken.take("a", 30_000), false, "a second request within the window is a duplicate");
  assert.equal(taken.size, 2);
  assert.equal(taken.take("c", 60_500), true);
  assert.equal(taken.size, 2, "a is forgotten once it is older than the window");
  assert.equal(taken.take("a", 61_000), true, "after the window the id is new again");
  assert.throws(() => new TakenOrders(0), {
    name: "RangeError",
    message:
      "Cannot remember taken orders: windowMs must be a whole number >= 1: current value is 0",
  });
});

Deno.test("TakenOrders remembers an id for exactly windowMs, both ends included", () => {
  const taken = new TakenOrders(60_000);
  assert.equal(taken.take("a", 0), true);
  assert.equal(taken.take("a", 60_000), false, "windowMs later it is still a duplicate");
  assert.equal(taken.take("a", 60_001), true, "1 ms later it is new");
});

Deno.test("eraseFirst() cancels an erased order where it stood", async (t) => {
  const topics = { processing: "processing", status: "status" };
  const erased = new Set(["gone"]);
  const isErased = (id: string) => erased.has(id);
  const now = at(7000);
  const stepTombstones = (id: string) =>
    [1, 2, 3, 4].map((seq) => ({ topic: "status", key: `${id}/step/${seq}`, value: null }));
  const transition: OrderTransition = {
    v: 1,
    type: "OrderTransition",
    id: "o1",
    order,
    state: "preparando",
    seq: 2,
    at: at(1000).toISOString(),
    requestedAt: t0.toISOString(),
    next: { state: "entregando", dueAt: at(2000).toISOString() },
  };
  await t.step("an erasure request: OrderErased on order_processing, keyed by the id", () => {
    const request = {
      v: 1,
      type: "OrderErasureRequested",
      id: "o1",
      requestedAt: at(6000).toISOString(),
    } as const;
    const step = eraseFirst(request, isErased, now, topics);
    assert.deepEqual(step, {
      kind: "erase",
      erased: "o1",
      records: [{
        topic: "processing",
        key: "o1",
        value: JSON.stringify({ v: 1, type: "OrderErased", id: "o1", at: now.toISOString() }),
      }],
    });
    // Also when the id is known already: the follower of order_erasures may have added it first.
    assert.deepEqual(eraseFirst({ ...request, id: "gone" }, isErased, now, topics).kind, "erase");
  });
  await t.step("OrderErased: the four step tombstones, then the marker", () => {
    const e = { v: 1, type: "OrderErased", id: "o1", at: now.toISOString() } as const;
    assert.deepEqual(eraseFirst(e, isErased, now, topics), {
      kind: "erase",
      erased: "o1",
      records: [
        ...stepTombstones("o1"),
        { topic: "status", key: "o1/erased", value: JSON.stringify(e) },
      ],
    });
  });
  await t.step("a transition of an erased order: no successor, the step tombstones again", () => {
    assert.deepEqual(eraseFirst({ ...transition, id: "gone" }, isErased, now, topics), {
      kind: "erase",
      erased: "gone",
      records: stepTombstones("gone"),
    });
  });
  await t.step("a request of an erased order: nothing", () => {
    assert.deepEqual(eraseFirst({ ...requested, id: "gone" }, isErased, now, topics), {
      kind: "erase",
      erased: "gone",
      records: [],
    });
  });
  await t.step("an order not erased advances as before", () => {
    assert.deepEqual(eraseFirst(transition, isErased, now, topics), {
      kind: "advance",
      input: transition,
    });
    assert.deepEqual(eraseFirst(requested, isErased, now, topics), {
      kind: "advance",
      input: requested,
    });
  });
});

Deno.test("TakenOrders past maxIds forgets the oldest early and says so once", () => {
  let full = 0;
  const taken = new TakenOrders(60_000, { maxIds: 2, onFull: () => full++ });
  assert.equal(taken.take("a", 0), true);
  assert.equal(taken.take("b", 1), true);
  assert.equal(taken.forgottenEarly, 0);
  assert.equal(taken.take("c", 2), true);
  assert.equal(taken.take("d", 3), true);
  assert.equal(taken.size, 2);
  assert.equal(taken.forgottenEarly, 2);
  assert.equal(full, 1, "said once");
  assert.equal(taken.take("d", 4), false, "the newest are remembered");
  assert.equal(taken.take("a", 5), true, "the oldest were forgotten within the window");
});
