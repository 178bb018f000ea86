import assert from "node:assert/strict";
import type { KafkaClient } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import { Admission } from "./admission.ts";
import { createKafkaPublisher } from "./publisher.ts";

/** A Kafka client whose sends settle when the test says so; nothing touches a network. */
function fakeKafka(reachable = false) {
  const sends: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  let pings = 0;
  const producer = {
    connect: () => Promise.resolve(),
    close: () => Promise.resolve(),
    send: () => new Promise<void>((resolve, reject) => sends.push({ resolve, reject })),
  };
  const kafka = {
    producer: () => producer,
    ping: () => {
      pings++;
      return reachable ? Promise.resolve() : Promise.reject(new Error("still down"));
    },
  } as unknown as KafkaClient;
  return { kafka, sends, pings: () => pings };
}
const quiet = createLogger("test", "error", () => {});
const record = { topic: "order_requests", key: "a", value: "{}" };

Deno.test("createKafkaPublisher() stays ready after one slow acknowledgement, and is not ready after a failed send", async () => {
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
    sends[1]!.reject(new Error("Connection error: connect ECONNREFUSED 127.0.0.1:9092"));
    await assert.rejects(failing, {
      code: "KAFKA_UNAVAILABLE",
      message: "Cannot publish: Connection error: connect ECONNREFUSED 127.0.0.1:9092",
    });
    assert.equal(publisher.ready(), false, "a failed send marks Kafka unavailable");
    await assert.rejects(admission.publish(record), {
      message: "Cannot publish: Kafka is unreachable",
    });
  } finally {
    await publisher.stop();
  }
});

Deno.test("createKafkaPublisher() asks at once whether Kafka is back after a failed send, and is ready again as soon as it answers", async () => {
  // One broker of three killed mid-request: that send fails, the rest of the cluster answers.
  const { kafka, sends, pings } = fakeKafka(true);
  const publisher = createKafkaPublisher(kafka, quiet);
  await publisher.start();
  try {
    const failing = publisher.publish(record);
    await new Promise((r) => setTimeout(r, 0));
    sends[0]!.reject(new Error("Connection closed"));
    await assert.rejects(failing, { code: "KAFKA_UNAVAILABLE" });
    assert.equal(pings(), 1, "asked at once, not after a tick");
    // The probe's ping and connect settle on the next turns of the event loop: no timer involved.
    for (let i = 0; i < 5 && !publisher.ready(); i++) await Promise.resolve();
    assert.equal(publisher.ready(), true, "ready again without waiting for a tick");
  } finally {
    await publisher.stop();
  }
});
