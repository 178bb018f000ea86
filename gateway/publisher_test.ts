import assert from "node:assert/strict";
import { type KafkaClient, type OutRecord, partitionOf } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import { Admission } from "./admission.ts";
import { createKafkaPublisher, type Publisher, type Timers } from "./publisher.ts";

/**
 * A Kafka client whose sends settle when the test says so; nothing touches a network. Its topics
 * have 6 partitions (`setPartitions` changes it), partition p led by broker p % 3.
 */
function fakeKafka(answering: boolean | "when told" = false) {
  let reachable = answering === true;
  let partitions = 6;
  const pingsWaiting: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  const sends: {
    records: OutRecord[];
    resolve: () => void;
    reject: (e: unknown) => void;
    producer: number;
  }[] = [];
  let pings = 0;
  let producersMade = 0;
  /** Each producer fails the test if it is given a second send while one is in flight. */
  const makeProducer = () => {
    const id = producersMade++;
    let inFlight = 0;
    return {
      connect: () => Promise.resolve(),
      close: () => Promise.resolve(),
      send: (records: OutRecord[]) => {
        assert.equal(inFlight, 0, `producer ${id} has one send in flight at most`);
        inFlight++;
        return new Promise<void>((resolve, reject) =>
          sends.push({ records, resolve, reject, producer: id })
        ).finally(() => inFlight--);
      },
    };
  };
  const kafka = {
    producer: makeProducer,
    ping: () => {
      pings++;
      if (answering === "when told") {
        return new Promise<void>((resolve, reject) => pingsWaiting.push({ resolve, reject }));
      }
      return reachable ? Promise.resolve() : Promise.reject(new Error("still down"));
    },
    describeTopic: () =>
      Promise.resolve(
        Array.from(
          { length: partitions },
          (_, p) => ({ partition: p, leader: p % 3, replicas: [], isr: [] }),
        ),
      ),
  } as unknown as KafkaClient;
  return {
    kafka,
    sends,
    pings: () => pings,
    answer: (yes: boolean) => reachable = yes,
    pingsWaiting,
    producersMade: () => producersMade,
    setPartitions: (count: number) => partitions = count,
  };
}
/** Timers that fire only when the test moves their clock on. */
function fakeTimers() {
  let now = 0;
  const pending = new Set<{ at: number; every: number | undefined; fn: () => void }>();
  const add = (ms: number, fn: () => void, every: number | undefined) => {
    const timer = { at: now + ms, every, fn };
    pending.add(timer);
    return () => void pending.delete(timer);
  };
  const timers: Timers = {
    after: (ms, fn) => add(ms, fn, undefined),
    every: (ms, fn) => add(ms, fn, ms),
  };
  return {
    timers,
    /** Timers set and not yet fired or cancelled (intervals until stopped). */
    active: () => pending.size,
    now: () => now,
    /** Moves the clock on by `ms`, firing what falls due (each timer at most once per call). */
    advance(ms: number) {
      now += ms;
      for (const timer of [...pending]) {
        if (timer.at > now || !pending.has(timer)) continue;
        if (timer.every === undefined) pending.delete(timer);
        else timer.at += timer.every;
        timer.fn();
      }
    },
  };
}
/** A key whose record goes to `partition` of 6, found by trying. */
function keyOn(partition: number, not: readonly string[] = []): string {
  for (let i = 0;; i++) {
    const key = `order-${i}`;
    if (partitionOf(key, 6) === partition && !not.includes(key)) return key;
  }
}
/** Lets the publisher's promise chains run (no timer involved). */
async function turns(n = 10): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}
const quiet = createLogger("test", "error", () => {});
const record = { topic: "order_requests", key: "a", value: "{}" };

/** Publishes `record` and fails its send as a killed broker would: the publish is refused (503). */
async function failFirstSend(
  publisher: Publisher,
  sends: { reject(error: unknown): void }[],
): Promise<void> {
  const failing = publisher.publish(record);
  await turns();
  sends[0]!.reject(new Error("Connection closed"));
  await assert.rejects(failing, { code: "KAFKA_UNAVAILABLE" });
}

Deno.test("createKafkaPublisher() stays ready after one slow acknowledgement, and is not ready after a failed send when Kafka does not answer", async () => {
  const { kafka, sends } = fakeKafka();
  const publisher = createKafkaPublisher(kafka, quiet);
  await publisher.start();
  const admission = new Admission(publisher, { maxPending: 10, ackTimeoutMs: 20 });
  try {
    await assert.rejects(admission.publish(record), {
      code: "KAFKA_UNAVAILABLE",
      message: "Cannot publish: Kafka did not acknowledge within 20 ms",
    });
    assert.equal(publisher.ready(), true, "a slow acknowledgement is not a broken connection");
    sends[0]!.resolve();
    await admission.idle();
    assert.equal(publisher.ready(), true);

    const failing = admission.publish(record);
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(sends.length, 2);
    sends[1]!.reject(new Error("Connection error: connect ECONNREFUSED 127.0.0.1:9092"));
    await assert.rejects(failing, {
      code: "KAFKA_UNAVAILABLE",
      message: "Cannot publish: Connection error: connect ECONNREFUSED 127.0.0.1:9092",
    });
    await turns();
    assert.equal(publisher.ready(), false, "a failed send, then no answer: Kafka unavailable");
    await assert.rejects(admission.publish(record), {
      message: "Cannot publish: Kafka is unreachable",
    });
  } finally {
    await publisher.stop();
  }
});

Deno.test("createKafkaPublisher() asks at once whether Kafka answers after a failed send, and refuses nothing while it asks", async () => {
  // One broker of three killed: the send to its partition failed, the rest of the cluster answers
  // and takes writes, so no request is refused for it.
  const { kafka, sends, pings, pingsWaiting } = fakeKafka("when told");
  const publisher = createKafkaPublisher(kafka, quiet);
  await publisher.start();
  try {
    await failFirstSend(publisher, sends);
    assert.equal(pings(), 1, "asked at once, not after a tick");
    assert.equal(publisher.ready(), true, "not refused while asking");
    const next = publisher.publish({ ...record, key: keyOn(1) });
    await turns();
    assert.equal(sends.length, 2, "a record published while asking is sent");
    pingsWaiting[0]!.resolve();
    await turns();
    assert.equal(publisher.ready(), true, "the cluster answered");
    sends[1]!.resolve();
    await next;
  } finally {
    await publisher.stop();
  }
});

Deno.test("createKafkaPublisher() is ready again once Kafka answers after it did not", async () => {
  const { kafka, sends, answer, pings } = fakeKafka(false);
  const clock = fakeTimers();
  const publisher = createKafkaPublisher(kafka, quiet, { timers: clock.timers });
  await publisher.start();
  try {
    await failFirstSend(publisher, sends);
    await turns();
    assert.equal(publisher.ready(), false);
    clock.advance(250);
    await turns();
    assert.equal(pings(), 2, "asked again after 250 ms");
    assert.equal(publisher.ready(), false);
    answer(true);
    clock.advance(250);
    await turns();
    assert.equal(publisher.ready(), true);
    assert.equal(clock.active(), 0, "no probe left once Kafka answers");
  } finally {
    await publisher.stop();
  }
});

Deno.test("createKafkaPublisher() is not ready when Kafka's ping does not answer within 1 s, and refuses requests at once", async () => {
  // A full outage: kafkajs's admin retries its connection for seconds before the ping fails; the
  // probe does not wait that long.
  const { kafka, sends, pings } = fakeKafka("when told");
  const clock = fakeTimers();
  const publisher = createKafkaPublisher(kafka, quiet, { timers: clock.timers });
  await publisher.start();
  try {
    await failFirstSend(publisher, sends);
    assert.equal(pings(), 1);
    clock.advance(999);
    await turns();
    assert.equal(publisher.ready(), true, "still asking");
    clock.advance(1);
    await turns();
    assert.equal(publisher.ready(), false, "no answer within 1 s: unavailable");
    await assert.rejects(publisher.publish(record), {
      code: "KAFKA_UNAVAILABLE",
      message: "Cannot publish: Kafka is unreachable",
    });
    assert.equal(sends.length, 1, "refused without a send");
  } finally {
    await publisher.stop();
  }
});

Deno.test("createKafkaPublisher() starts no probe when one still asking at stop() gets its answer", async () => {
  const { kafka, sends, pingsWaiting } = fakeKafka("when told");
  const clock = fakeTimers();
  const publisher = createKafkaPublisher(kafka, quiet, { timers: clock.timers });
  await publisher.start();
  await failFirstSend(publisher, sends);
  assert.equal(pingsWaiting.length, 1, "asking");
  await publisher.stop();
  pingsWaiting[0]!.reject(new Error("Connection closed"));
  await turns();
  assert.equal(clock.active(), 0, "no interval nobody would clear");
  assert.equal(publisher.ready(), false);
});

Deno.test("createKafkaPublisher() stop() refuses records still waiting, makes no producer and no send after, and refuses later records", async () => {
  const { kafka, sends, producersMade } = fakeKafka(true);
  const publisher = createKafkaPublisher(kafka, quiet, { timers: fakeTimers().timers });
  await publisher.start();
  const key = keyOn(0);
  const inFlight = publisher.publish({ ...record, key });
  await turns();
  // Same partition: waits for the send in flight.
  const waiting = publisher.publish({ ...record, key, value: "second" });
  await turns();
  assert.equal(sends.length, 1);
  const made = producersMade();

  const stopping = publisher.stop();
  const stopped = {
    code: "KAFKA_UNAVAILABLE",
    message: "Cannot publish: the gateway is stopping",
  };
  await assert.rejects(waiting, stopped);
  sends[0]!.reject(new Error("Producer closed"));
  await assert.rejects(inFlight, { code: "KAFKA_UNAVAILABLE" });
  await stopping;
  await turns();
  assert.equal(sends.length, 1, "no send after stop()");
  assert.equal(producersMade(), made, "no producer made after stop()");
  await assert.rejects(publisher.publish({ ...record, key: keyOn(1) }), stopped);
});

Deno.test("createKafkaPublisher() routes by a larger partition count at once, sending each record to its lane's partition", async () => {
  const { kafka, sends, setPartitions } = fakeKafka(true);
  const clock = fakeTimers();
  const publisher = createKafkaPublisher(kafka, quiet, { timers: clock.timers, now: clock.now });
  await publisher.start();
  try {
    // A key on partition 0 of 6 and another partition of 8 (added partitions move keys).
    let key = "";
    for (let i = 0; !key; i++) {
      const k = `order-${i}`;
      if (partitionOf(k, 6) === 0 && partitionOf(k, 8) !== 0) key = k;
    }
    const stuck = publisher.publish({ ...record, key });
    await turns();
    assert.equal(sends[0]!.records[0]!.partition, 0, "sent to partition 0 explicitly");

    // Partitions added; a failed send has the leaders read again.
    setPartitions(8);
    clock.advance(1000);
    const failing = publisher.publish({ ...record, key: keyOn(1) });
    await turns();
    sends[1]!.reject(new Error("Connection closed"));
    await assert.rejects(failing);
    await turns();

    const moved = publisher.publish({ ...record, key, value: "second" });
    await turns();
    assert.equal(sends.length, 3, "not held behind the record routed by 6 partitions");
    assert.deepEqual(sends[2]!.records, [
      { ...record, key, value: "second", partition: partitionOf(key, 8) },
    ]);
    sends[2]!.resolve();
    sends[0]!.resolve();
    await Promise.all([stuck, moved]);
  } finally {
    await publisher.stop();
  }
});

Deno.test("createKafkaPublisher() does not hold records for other partitions behind a send waiting on one partition", async () => {
  // The broker leading partition 0 killed: its send waits for a new leader. Records for partitions
  // led by live brokers go out and are acknowledged meanwhile.
  const { kafka, sends } = fakeKafka();
  const publisher = createKafkaPublisher(kafka, quiet);
  await publisher.start();
  try {
    const stuckKey = keyOn(0);
    const stuck = publisher.publish({ ...record, key: stuckKey });
    let stuckDone = false;
    stuck.then(() => stuckDone = true, () => stuckDone = true);
    await turns();
    assert.deepEqual(sends.map((s) => s.records.map((r) => r.key)), [[stuckKey]]);

    const liveKey = keyOn(1);
    const sameKey = publisher.publish({ ...record, key: stuckKey, value: "second" });
    const live = publisher.publish({ ...record, key: liveKey });
    await turns();
    assert.deepEqual(
      sends.map((s) => s.records.map((r) => r.key)),
      [[stuckKey], [liveKey]],
      "partition 1 does not wait; partition 0's second record waits for its first",
    );
    assert.notEqual(sends[0]!.producer, sends[1]!.producer, "each send has a producer of its own");
    sends[1]!.resolve();
    await live;
    assert.equal(stuckDone, false);

    sends[0]!.resolve();
    await stuck;
    await turns();
    assert.deepEqual(sends[2]!.records, [
      { ...record, key: stuckKey, value: "second", partition: 0 },
    ]);
    sends[2]!.resolve();
    await sameKey;
  } finally {
    await publisher.stop();
  }
});

Deno.test("createKafkaPublisher() sends the records for partitions one broker leads together", async () => {
  const { kafka, sends } = fakeKafka();
  const publisher = createKafkaPublisher(kafka, quiet);
  await publisher.start();
  try {
    // Partitions 0 and 3 are led by broker 0, partition 1 by broker 1.
    const keys = [keyOn(0), keyOn(1), keyOn(3)];
    const sent = keys.map((key) => publisher.publish({ ...record, key }));
    await turns();
    assert.deepEqual(
      sends.map((s) => s.records.map((r) => r.key).sort()),
      [[keys[0]!, keys[2]!].sort(), [keys[1]!]],
    );
    for (const s of sends) s.resolve();
    await Promise.all(sent);
  } finally {
    await publisher.stop();
  }
});
