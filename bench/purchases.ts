/**
 * The purchase-analytics figures: events per second one worker sustains with windows on
 * (events published beforehand, then the time until its committed offsets reach the end), and
 * the delay from an event's publication to its notification record (p50/p99) at a steady rate.
 */
import { loadConfig } from "../lib/config.ts";
import { createKafkaClient, type KafkaClientName } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import { generatePurchases, readWords } from "../datasets/purchases.ts";
import { summarize } from "../datasets/stats.ts";
import { classifyPurchase } from "../lib/purchase.ts";
import { publishAtRate } from "./paced.ts";
import { waitFor } from "../lib/wait.ts";
import { CostMeter, type Costs } from "./cost.ts";
import { spawnTask } from "./procs.ts";

/** Options of {@linkcode benchPurchases}. */
export interface PurchaseBenchOptions {
  brokers: string;
  client: KafkaClientName;
  /** The broker's process, measured with the worker when given. */
  brokerPid?: number;
  /** Events published before the worker starts. @default 100000 */
  events?: number;
  /** Rate of the latency run, events/s. @default 1000 */
  latencyRate?: number;
  /** Seconds of the latency run. @default 5 */
  latencySeconds?: number;
  partitions?: number;
  /** Write a CPU profile of the worker into this folder. */
  profileDir?: string;
}

/** Measures; see the module doc. */
export async function benchPurchases(options: PurchaseBenchOptions, say: (line: string) => void) {
  // Long on purpose: a bench run as a script: topics, backlog, each role timed, the report.
  const total = options.events ?? 100_000;
  const partitions = options.partitions ?? 5;
  const prefix = `bench-purchases-${Date.now().toString(36)}`;
  const env = {
    KAFKA_BROKERS: options.brokers,
    KAFKA_CLIENT: options.client,
    TOPIC_PURCHASES: `${prefix}-events`,
    TOPIC_PURCHASE_NOTIFICATIONS: `${prefix}-notifications`,
    TOPIC_PURCHASE_ANALYTICS: `${prefix}-analytics`,
    TOPIC_PURCHASE_STATE: `${prefix}-state`,
    TOPIC_DEAD_LETTER: `${prefix}-dlq`,
    TOPIC_PARTITIONS: String(partitions),
    GROUP_ID_PREFIX: prefix,
    INSTANCE_ID: `${prefix}-1`,
    PURCHASE_CONSOLE: "off",
    LOG_LEVEL: "info",
  };
  const kafka = createKafkaClient(
    loadConfig({
      KAFKA_BROKERS: options.brokers,
      KAFKA_CLIENT: options.client,
      KAFKA_CLIENT_ID: "bench-purchases",
    }),
    createLogger("bench", "error"),
  );
  const producer = kafka.producer();
  await producer.connect();
  const words = await readWords();
  try {
    await kafka.ensureTopics([{
      name: env.TOPIC_PURCHASES,
      partitions,
      replicationFactor: 1,
    }], { timeoutMs: 120_000 });
    say(`purchases: publishing ${total} events before starting one worker`);
    const events = generatePurchases(words, {
      count: total,
      seed: 77,
      startMs: Date.now() - total,
      intervalMs: 1,
    });
    for (let i = 0; i < total; i += 5000) {
      await producer.send(
        events.slice(i, i + 5000).map((e) => ({
          topic: env.TOPIC_PURCHASES,
          key: e.id,
          value: JSON.stringify(e),
        })),
      );
    }
    const ends = await kafka.endOffsets(env.TOPIC_PURCHASES);
    const end = ends.reduce((n, p) => n + Number(p.high), 0);
    const worker = await spawnTask(
      "purchase-analytics",
      "worker",
      ["--role", "purchase-analytics"],
      env,
      /"analysing purchases"/,
      options.profileDir === undefined
        ? {}
        : { profileDir: options.profileDir, profileName: "purchases-purchase-analytics" },
    );
    const meter = await CostMeter.start([
      { name: "purchase-analytics", pid: worker.child.pid, fresh: true },
      ...(options.brokerPid === undefined ? [] : [{ name: "broker", pid: options.brokerPid }]),
    ]);
    const started = performance.now();
    try {
      // Polled often: the figure is a couple of seconds long, so 25 ms is about 1 % of it.
      const seconds = await waitFor("the worker to process the backlog", async () => {
        const offsets = await kafka.groupOffsets(
          `${prefix}-purchase-analytics`,
          env.TOPIC_PURCHASES,
        );
        const done = offsets.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
        return done >= end
          ? { ready: true, value: (performance.now() - started) / 1000 }
          : { ready: false, why: `${done}/${end} events committed` };
      }, { timeoutMs: 300_000, intervalMs: 25, progressMs: 10_000, say });
      const cost: Costs = await meter.stop();
      const eventsPerSec = total / seconds;
      const workerCpuS = cost["purchase-analytics"]!.cpuS;
      const eventsPerCpuS = total / workerCpuS;
      say(
        `    ${total} events in ${seconds.toFixed(2)} s: ${eventsPerSec.toFixed(0)} events/s, ${
          eventsPerCpuS.toFixed(0)
        } events per worker CPU-second`,
      );

      // Latency at a steady rate, with the worker caught up.
      const rate = options.latencyRate ?? 1000;
      const count = rate * (options.latencySeconds ?? 5);
      const live = generatePurchases(words, {
        count,
        seed: 78,
        startMs: Date.now(),
        intervalMs: 1000 / rate,
      });
      const sentAt = new Map<string, number>();
      const delays: number[] = [];
      /** Publication → the worker's decision (the notification's `at`), and decision → seen. */
      const toDecided: number[] = [];
      const decoder = new TextDecoder();
      const reader = kafka.reader({
        topics: [env.TOPIC_PURCHASE_NOTIFICATIONS],
        from: "end",
        maxWaitMs: 5,
        onBatch: (batch) => {
          const now = Date.now();
          for (const r of batch.records) {
            const sent = sentAt.get(r.key ?? "");
            if (sent === undefined) continue;
            delays.push(now - sent);
            const at = JSON.parse(decoder.decode(r.value ?? new Uint8Array())).at;
            toDecided.push(Date.parse(at) - sent);
          }
        },
      });
      await reader.ready;
      say(`purchases: ${count} events at ${rate}/s, timing publication → notification`);
      await publishAtRate(producer, env.TOPIC_PURCHASES, live, rate, sentAt);
      const purchases = live.filter((e) => classifyPurchase(e) !== "visit").length;
      const until = Date.now() + 15_000;
      while (delays.length < purchases && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await reader.stop();
      const d = summarize(delays);
      const decided = summarize(toDecided);
      say(
        `    notified ${delays.length}/${purchases}: p50 ${d.p50} ms, p99 ${d.p99} ms (publication → decision p50 ${decided.p50} ms, p99 ${decided.p99} ms)`,
      );
      return {
        partitions,
        events: total,
        seconds,
        eventsPerSec,
        cost,
        eventsPerCpuS,
        /** Events per CPU-second of the worker and the broker together. */
        eventsPerSystemCpuS: total / Object.values(cost).reduce((n, c) => n + c.cpuS, 0),
        latency: {
          rate,
          events: count,
          purchases,
          notified: delays.length,
          p50Ms: d.p50,
          p99Ms: d.p99,
          /** Publication → the worker's decision: the rest is its transaction and the read. */
          toDecisionP50Ms: decided.p50,
          toDecisionP99Ms: decided.p99,
          maxMs: d.max,
        },
      };
    } finally {
      await worker.stop();
    }
  } finally {
    await producer.close();
    await kafka.close();
  }
}
