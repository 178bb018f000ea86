import assert from "node:assert/strict";
import { kafkajsProducer, knownPartitioner } from "./producer.ts";
import { partitionOf } from "../partition.ts";
import { sendCases } from "./_send_cases.ts";

/** kafkajs's view of a topic: partitions 0..count-1, each with a leader. */
const metadata = (count: number) =>
  Array.from({ length: count }, (_, p) => ({
    partitionId: p,
    leader: 0,
    replicas: [0],
    isr: [0],
    partitionErrorCode: 0,
  }));

Deno.test("knownPartitioner() keeps an explicit partition the producer knows, hashes a key otherwise, and refuses a partition it does not know", () => {
  const choose = knownPartitioner();
  const topic = "order_requests";
  assert.equal(
    choose({
      topic,
      partitionMetadata: metadata(6),
      message: { key: "k1", value: "", partition: 5 },
    }),
    5,
  );
  assert.equal(
    choose({ topic, partitionMetadata: metadata(6), message: { key: "k1", value: "" } }),
    partitionOf("k1", 6),
  );
  // Partitions just added, the producer's metadata older: kafkajs would drop the record and still
  // resolve the send; the error makes it read metadata again and retry instead.
  assert.throws(
    () =>
      choose({
        topic,
        partitionMetadata: metadata(3),
        message: { key: "k1", value: "", partition: 4 },
      }),
    {
      name: "KafkaJSMetadataNotLoaded",
      retriable: true,
      message:
        'Cannot send to partition 4 of topic "order_requests": the producer\'s metadata lists 3 partitions',
    },
  );
});

Deno.test("kafkajsProducer() sends one topic-partition per sendBatch call", async (t) => {
  await sendCases(t, async (fake, records) => {
    const producer = kafkajsProducer(fake.kafka, fake.counts);
    await producer.connect();
    await producer.send(records);
    await producer.close();
  });
});
