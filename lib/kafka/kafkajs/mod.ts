/**
 * The seam on npm `kafkajs` 2.2.4 (the design card's client). What it cannot do, and so what this
 * implementation does not promise: it sends no consumer-group generation with transactional offsets
 * (no KIP-447), so exactly-once holds across a crash and restart with the same transactional id,
 * but not while partitions move between two live instances; and it has no static membership
 * (KIP-345), so a killed worker's partitions wait for its session to time out.
 *
 * Laid out as the platformatic adapter is (`../platformatic/`): `admin.ts`, `producer.ts`,
 * `reader.ts`, `transactional.ts`, and what they share: `options.ts` (the library's entry object),
 * `errors.ts` (which errors are fatal), `messages.ts` (records as the library takes and gives them).
 */
import type { AdapterOptions } from "../adapter.ts";
import type { KafkaClient } from "../interfaces.ts";
import { kafkajsAdmin } from "./admin.ts";
import { classify } from "./errors.ts";
import { kafkaOf } from "./options.ts";
import { partitionCounts } from "./partitions.ts";
import { kafkajsProducer } from "./producer.ts";
import { kafkajsRange, kafkajsReader } from "./reader.ts";
import { kafkajsTransactional } from "./transactional.ts";

/**
 * Creates the seam on kafkajs.
 *
 * @param options Brokers, client id, logger.
 * @returns The client; nothing is connected until used.
 */
export function createKafkajsClient(options: AdapterOptions): KafkaClient {
  const klog = options.log.child("kafka");
  const startupTimeoutMs = options.startupTimeoutMs ?? 600_000;
  const kafka = kafkaOf(options, klog);
  const admin = kafkajsAdmin(kafka);
  // Read once per topic for the whole adapter, so a send does not ask Kafka each time.
  const counts = partitionCounts(async (topic) => (await admin.describeTopic(topic)).length);
  return {
    name: "kafkajs",
    ...admin,
    readRange: (topic, partition, from, to, onRecords, signal) =>
      kafkajsRange(kafka, { topic, partition, from, to }, onRecords, startupTimeoutMs, signal),
    producer: () => kafkajsProducer(kafka, counts, options.sendRetryMs),
    reader: (o) => kafkajsReader(kafka, o, klog),
    runTransactional: (o) => kafkajsTransactional(kafka, o, startupTimeoutMs, counts),
    classify,
  };
}
