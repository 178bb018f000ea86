import assert from "node:assert/strict";
import { DespachoError } from "../lib/errors.ts";
import type { OutRecord } from "../lib/kafka/mod.ts";
import { Admission } from "./admission.ts";
import type { Publisher } from "./publisher.ts";

/** A publisher whose writes settle when the test says so. */
function heldPublisher() {
  const writes: { record: OutRecord; resolve: () => void; reject: (e: unknown) => void }[] = [];
  const publisher: Publisher = {
    ready: () => true,
    publish: (record) => new Promise((resolve, reject) => writes.push({ record, resolve, reject })),
  };
  return { publisher, writes };
}
const record = (key: string): OutRecord => ({ topic: "t", key, value: "{}" });
const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("Admission refuses with OVERLOADED beyond maxPending, and admits again as writes settle", async () => {
  const { publisher, writes } = heldPublisher();
  const admission = new Admission(publisher, { maxPending: 2, ackTimeoutMs: 10_000 });
  const first = admission.publish(record("a"));
  const second = admission.publish(record("b"));
  assert.equal(admission.pending, 2);
  assert.equal(admission.full, true);
  assert.throws(() => admission.publish(record("c")), (error: unknown) => {
    assert.ok(error instanceof DespachoError);
    assert.equal(error.code, "OVERLOADED");
    assert.equal(error.retriable, true);
    assert.equal(
      error.message,
      "Cannot admit 1 write: 2 are already waiting for Kafka and the limit is 2",
    );
    return true;
  });
  assert.throws(() => admission.check(), { message: /limit is 2/ });
  assert.equal(writes.length, 2, "a refused record never reaches the publisher");
  writes[0]!.resolve();
  await first;
  assert.equal(admission.pending, 1);
  const third = admission.publish(record("c"));
  writes[1]!.resolve();
  writes[2]!.resolve();
  await Promise.all([second, third]);
  assert.equal(admission.pending, 0);
});

Deno.test("Admission answers KAFKA_UNAVAILABLE after ackTimeoutMs, and holds the slot until the write settles", async () => {
  const { publisher, writes } = heldPublisher();
  const admission = new Admission(publisher, { maxPending: 1, ackTimeoutMs: 20 });
  await assert.rejects(admission.publish(record("slow")), (error: unknown) => {
    assert.ok(error instanceof DespachoError);
    assert.equal(error.code, "KAFKA_UNAVAILABLE");
    assert.equal(error.message, "Cannot publish: Kafka did not acknowledge within 20 ms");
    return true;
  });
  assert.equal(admission.pending, 1, "the unacknowledged write still holds memory");
  assert.throws(() => admission.publish(record("next")), { message: /limit is 1/ });
  writes[0]!.resolve();
  await tick();
  assert.equal(admission.pending, 0);
  const idle = admission.idle();
  await idle;
});

Deno.test("Admission reservations take every slot or none, publish at most their count, and free the rest", async () => {
  const { publisher, writes } = heldPublisher();
  const admission = new Admission(publisher, { maxPending: 5, ackTimeoutMs: 10_000 });
  assert.throws(() => admission.reserve(6), { message: /Cannot admit 6 writes: 0 are already/ });
  assert.equal(admission.pending, 0);
  const reservation = admission.reserve(3);
  assert.equal(admission.pending, 3);
  const a = reservation.publish(record("a"));
  const b = reservation.publish(record("b"));
  reservation.release();
  assert.equal(admission.pending, 2, "the unused slot is freed");
  assert.throws(() => reservation.publish(record("c")), {
    name: "RangeError",
    message: 'Cannot publish: all 3 reserved slots are used: current record key is "c"',
  });
  let idle = false;
  const waiting = admission.idle().then(() => idle = true);
  writes[0]!.resolve();
  writes[1]!.reject(new Error("broker gone"));
  await a;
  await assert.rejects(b, { message: "broker gone" });
  await waiting;
  assert.equal(idle, true);
  assert.equal(admission.pending, 0);
  reservation.release();
  assert.equal(admission.pending, 0, "releasing twice frees nothing more");
});

Deno.test("Admission frees the slot of a publisher that throws at once", () => {
  const publisher: Publisher = {
    ready: () => false,
    publish: () => {
      throw new DespachoError("KAFKA_UNAVAILABLE", "Cannot publish: Kafka is unreachable");
    },
  };
  const admission = new Admission(publisher, { maxPending: 1, ackTimeoutMs: 100 });
  return assert.rejects(admission.publish(record("a")), { message: /unreachable/ }).then(() => {
    assert.equal(admission.pending, 0);
  });
});

Deno.test("Admission refuses bounds that are not whole numbers >= 1", async (t) => {
  const { publisher } = heldPublisher();
  for (
    const [options, message] of [
      [
        { maxPending: 0, ackTimeoutMs: 1 },
        "maxPending must be a whole number >= 1: current value is 0",
      ],
      [
        { maxPending: 1, ackTimeoutMs: 1.5 },
        "ackTimeoutMs must be a whole number >= 1: current value is 1.5",
      ],
    ] as const
  ) {
    await t.step(message, () => {
      assert.throws(() => new Admission(publisher, options), {
        name: "RangeError",
        message: `Cannot create admission: ${message}`,
      });
    });
  }
});

Deno.test("Admission.idle() waits for the last pending write, not the one before", async () => {
  const { publisher, writes } = heldPublisher();
  const admission = new Admission(publisher, { maxPending: 2, ackTimeoutMs: 10_000 });
  const written = [admission.publish(record("a")), admission.publish(record("b"))];
  let idle = false;
  const waiting = admission.idle().then(() => idle = true);
  writes[0]!.resolve();
  await written[0];
  await tick();
  assert.equal(idle, false, "one write is still pending");
  writes[1]!.resolve();
  await waiting;
  assert.equal(admission.pending, 0);
});
