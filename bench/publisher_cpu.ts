/**
 * The gateway publisher's own cost, without Kafka and without HTTP: `createKafkaPublisher` over a
 * fake client whose producers acknowledge each send after 1 ms and whose topic has 8 partitions
 * led by 3 brokers. `--records` publishes, `--concurrency` at a time; prints records/s, CPU
 * microseconds per record and the sends made, per round. A few seconds of one core.
 *
 * usage: deno run --allow-read --allow-env bench/publisher_cpu.ts [--records 200000]
 *   [--concurrency 2000] [--rounds 3]
 */
import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { createKafkaPublisher } from "../gateway/publisher.ts";
import type { KafkaClient } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";

const { values } = parseArgs({
  options: {
    records: { type: "string", default: "200000" },
    concurrency: { type: "string", default: "2000" },
    rounds: { type: "string", default: "3" },
  },
});
const records = Number(values.records);
const concurrency = Number(values.concurrency);

let sends = 0;
const kafka = {
  producer: () => ({
    connect: () => Promise.resolve(),
    close: () => Promise.resolve(),
    send: () => {
      sends++;
      return new Promise<void>((r) => setTimeout(r, 1));
    },
  }),
  ping: () => Promise.resolve(),
  describeTopic: () =>
    Promise.resolve(
      Array.from({ length: 8 }, (_, p) => ({ partition: p, leader: p % 3, replicas: [], isr: [] })),
    ),
} as unknown as KafkaClient;

for (let round = 1; round <= Number(values.rounds); round++) {
  const publisher = createKafkaPublisher(kafka, createLogger("bench", "error", () => {}));
  await publisher.start();
  sends = 0;
  let next = 0;
  const started = performance.now();
  const cpu = cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < records) {
      const i = next++;
      await publisher.publish({ topic: "order_requests", key: `order-${i}`, value: "{}" });
    }
  }));
  const ms = performance.now() - started;
  const used = cpuUsage(cpu);
  console.log(JSON.stringify({
    round,
    records,
    perSecond: Math.round(records / ms * 1000),
    cpuUsPerRecord: Number(((used.user + used.system) / records).toFixed(2)),
    sends,
  }));
  await publisher.stop();
}
