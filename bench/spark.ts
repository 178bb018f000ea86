/**
 * The purchase-analytics figures against the second report's engine: the same purchase events, on
 * the same broker, through `worker --role purchase-analytics` and through an equivalent Spark
 * Structured Streaming job (`bench/spark/job.py`: pyspark 4.2.0, `local[2]`, the Kafka connector
 * from Maven Central), one engine at a time, runs alternating (3 by default), each measured the
 * same way:
 *
 * 1. throughput: a backlog of events (100,000) is published to a fresh topic, the engine starts,
 *    and the time from its being ready until it has processed the whole backlog gives events/s
 *    (Despacho: its group's committed offsets; Spark: both queries' progress);
 * 2. latency: events at a steady rate (1,000/s for 5 s), each timed from its publication to its
 *    notification record on the engine's notifications topic (p50, p99, max), every notification
 *    text compared with Despacho's `purchaseMessage`;
 * 3. equivalence: one last event a window later closes every window, and each engine's windows
 *    are compared with a direct count of the events it was sent;
 * 4. cost: CPU seconds of the engine's processes (all descendants: `deno task` and `deno run`;
 *    Python and its JVM) per phase, and their peak resident memory together.
 *
 * ```sh
 * deno task bench:spark                 # own broker; both engines; bench/results/<time>-spark/
 * deno task bench --spark               # the whole bench, with this comparison in its report
 * ```
 *
 * Not in the default bench or in CI: its first run downloads pyspark (450 MB) and the connector
 * (`bench/spark_setup.ts`). `--spark-real-time MS` runs Spark's notifications query in Spark 4's
 * real-time mode instead of micro-batches: it holds a task slot per input partition for the whole
 * batch, so on `local[2]` it needs `--partitions 1` (with 5 it stalled).
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { generatePurchases, readWords, type Words } from "../datasets/purchases.ts";
import { loadConfig } from "../lib/config.ts";
import {
  createKafkaClient,
  KAFKA_CLIENTS,
  type KafkaClientName,
  type KafkaProducer,
} from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import { classifyPurchase, type PurchaseEvent, purchaseMessage } from "../lib/purchase.ts";
import { summarize } from "../datasets/stats.ts";
import { waitFor } from "../lib/wait.ts";
import { KAFKA_VERSION, type RunningKafka, startKafka } from "../infra/kafka.ts";
import {
  type EngineSettings,
  type MicroBatch,
  startDespacho,
  startSpark,
  type Topics,
} from "./spark_engines.ts";
import { publishAtRate } from "./paced.ts";
import { watchTree } from "./process_tree.ts";
import { ensureSpark, SPARK_VERSION, type SparkInstall } from "./spark_setup.ts";
import {
  compareWindows,
  directCounts,
  type EngineResult,
  type EngineRuns,
  formatComparison,
  type MicroBatchFigures,
  windowsOfRecords,
} from "./spark_report.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** The engines compared. */
export const ENGINES = ["despacho", "spark"] as const;
/** One of {@linkcode ENGINES}. */
export type Engine = typeof ENGINES[number];

/** Options of {@linkcode benchSpark}. */
export interface SparkBenchOptions {
  brokers: string;
  /** Kafka client of Despacho's worker and of the bench itself. */
  client: KafkaClientName;
  /** Events published before each engine starts. @default 100000 */
  events?: number;
  /** Rate of the latency run, events/s. @default 1000 */
  latencyRate?: number;
  /** Seconds of the latency run. @default 5 */
  latencySeconds?: number;
  /** Partitions of the events topic. @default 5 */
  partitions?: number;
  /** Runs of each engine; engines alternate within a run. @default 3 */
  runs?: number;
  /**
   * Runs Spark's notifications query in real-time mode (Spark 4.1+, stateless queries only) with
   * batches of this many ms; the windows query stays in micro-batches. @default 0 (micro-batches)
   */
  sparkRealTimeMs?: number;
  /** Which engines, in this order. @default ["despacho", "spark"] */
  engines?: readonly Engine[];
  /** Tumbling window size of both engines. @default `ANALYTICS_WINDOW_MS` (10 s) */
  windowMs?: number;
  /** Watermark delay of both engines. @default `ANALYTICS_LATENESS_MS` (2 s) */
  latenessMs?: number;
}

/** What {@linkcode benchSpark} measured. */
export interface SparkComparison {
  events: number;
  partitions: number;
  windowMs: number;
  latenessMs: number;
  spark: {
    version: string;
    master: string;
    java: string;
    connector: string;
    /** Real-time mode's batch length for the notifications query; 0: micro-batches. */
    realTimeMs: number;
  };
  /** Each engine's runs. */
  engines: EngineRuns[];
}

/**
 * Measures both engines; see the module doc.
 *
 * @param options Broker, client, sizes, engines.
 * @param say Progress lines.
 * @returns Each engine's figures and the check of its windows.
 * @throws {Error} When Spark cannot be installed or started, or an engine does not process the
 * backlog within 5 minutes.
 */
export async function benchSpark(
  options: SparkBenchOptions,
  say: (line: string) => void = console.error,
): Promise<SparkComparison> {
  // Long on purpose: the bench as a script: install, one backlog, each engine in turn, the report.
  const engines = options.engines ?? ENGINES;
  const config = loadConfig({});
  const windowMs = options.windowMs ?? config.ANALYTICS_WINDOW_MS;
  const latenessMs = options.latenessMs ?? config.ANALYTICS_LATENESS_MS;
  const total = options.events ?? 100_000;
  const partitions = options.partitions ?? 5;
  // Install before any measuring, so a first run's downloads are not timed.
  const spark = engines.includes("spark") ? await ensureSpark(say) : null;
  const kafka = createKafkaClient(
    loadConfig({
      KAFKA_BROKERS: options.brokers,
      KAFKA_CLIENT: options.client,
      KAFKA_CLIENT_ID: "bench-spark",
    }),
    createLogger("bench", "error"),
  );
  const producer = kafka.producer();
  await producer.connect();
  const words = await readWords();
  // The same backlog for both engines.
  const backlog = generatePurchases(words, {
    count: total,
    seed: 77,
    startMs: Date.now() - total,
    intervalMs: 1,
  });
  const runs = options.runs ?? 3;
  const results = engines.map((engine) => ({
    engine,
    label: engine === "spark"
      ? `Spark ${SPARK_VERSION} Structured Streaming, local[2]${
        options.sparkRealTimeMs ? `, notifications in real-time mode` : ""
      }`
      : "Despacho, worker --role purchase-analytics",
    runs: [] as EngineResult[],
  }));
  try {
    for (let run = 1; run <= runs; run++) {
      for (const r of results) {
        say(`spark comparison, run ${run}/${runs}: ${r.engine}`);
        r.runs.push(
          await measure(r.engine, {
            kafka,
            producer,
            words,
            backlog,
            partitions,
            windowMs,
            latenessMs,
            rate: options.latencyRate ?? 1000,
            seconds: options.latencySeconds ?? 5,
            brokers: options.brokers,
            client: options.client,
            spark,
            sparkRealTimeMs: options.sparkRealTimeMs ?? 0,
          }, say),
        );
      }
    }
  } finally {
    await producer.close();
    await kafka.close();
  }
  return {
    events: total,
    partitions,
    windowMs,
    latenessMs,
    spark: {
      version: SPARK_VERSION,
      master: "local[2]",
      java: spark?.java ?? "",
      connector: `org.apache.spark:spark-sql-kafka-0-10_2.13:${SPARK_VERSION}`,
      realTimeMs: options.sparkRealTimeMs ?? 0,
    },
    engines: results,
  };
}

interface MeasureContext extends EngineSettings {
  producer: KafkaProducer;
  words: Words;
  backlog: readonly PurchaseEvent[];
  partitions: number;
  windowMs: number;
  latenessMs: number;
  rate: number;
  seconds: number;
  brokers: string;
  client: KafkaClientName;
  spark: SparkInstall | null;
  sparkRealTimeMs: number;
}

async function measure(
  engine: Engine,
  ctx: MeasureContext,
  say: (line: string) => void,
): Promise<EngineResult> {
  // Long on purpose: one engine measured as a timeline (backlog, start, drain, samples, stop).
  const { kafka, producer, backlog } = ctx;
  const prefix = `bench-spark-${engine}-${Date.now().toString(36)}`;
  const topics: Topics = {
    events: `${prefix}-events`,
    notifications: `${prefix}-notifications`,
    windows: `${prefix}-windows`,
  };
  await kafka.ensureTopics(
    Object.values(topics).map((name) => ({
      name,
      partitions: ctx.partitions,
      replicationFactor: 1,
    })),
    { timeoutMs: 120_000 },
  );
  say(`    publishing ${backlog.length} events to ${topics.events} before starting ${engine}`);
  await publish(producer, topics.events, backlog);
  const ends = await kafka.endOffsets(topics.events);
  const end = ends.reduce((n, p) => n + Number(p.high), 0);

  const spawned = performance.now();
  const running = engine === "spark"
    ? await startSpark(ctx.spark!, topics, prefix, ctx, say)
    : await startDespacho(topics, prefix, ctx);
  const startupSeconds = (performance.now() - spawned) / 1000;
  const watch = watchTree(running.pid);
  try {
    const atReady = await watch.sample();
    say(`    ready after ${startupSeconds.toFixed(1)} s; processing the backlog`);
    const started = performance.now();
    await waitFor(`${engine} to process ${backlog.length} events`, async () => {
      const done = await running.processed();
      return done >= end
        ? { ready: true, value: undefined }
        : { ready: false, why: `${done}/${end} processed` };
    }, {
      timeoutMs: 300_000,
      intervalMs: 50,
      progressMs: 10_000,
      say: (l) => say(`    ${l}`),
    }).catch((error) => {
      throw new Error(`${(error as Error).message}; ${engine} said: ${running.tail()}`);
    });
    const finished = performance.now();
    const seconds = (finished - started) / 1000;
    const afterBacklog = await watch.sample();
    const backlogCpu = afterBacklog.cpuSeconds - atReady.cpuSeconds;
    say(
      `    ${backlog.length} events in ${seconds.toFixed(2)} s: ${
        (backlog.length / seconds).toFixed(0)
      } events/s, ${backlogCpu.toFixed(1)} CPU s`,
    );

    const latency = await timeNotifications(ctx, topics, watch, say);
    const batches = running.batches?.();
    const between = (from: number, to: number) =>
      microBatchFigures(batches!.filter((b) => b.at >= from && b.at <= to));
    const windows = await checkWindows(ctx, topics, [...backlog, ...latency.sent], say);
    return {
      startupSeconds,
      startupCpuSeconds: atReady.cpuSeconds,
      backlog: {
        events: backlog.length,
        seconds,
        eventsPerSec: backlog.length / seconds,
        cpuSeconds: backlogCpu,
        eventsPerCpuSecond: backlog.length / backlogCpu,
      },
      latency: latency.figures,
      peakRssMiB: watch.peakRssBytes() / 2 ** 20,
      peakRssByProcess: watch.peakByProcess().map((p) => ({
        name: p.name,
        pid: p.pid,
        peakRssMiB: p.rssBytes / 2 ** 20,
      })),
      windows,
      ...(batches
        ? {
          microBatches: {
            backlog: between(started, finished),
            latency: between(latency.from, latency.to),
          },
        }
        : {}),
    };
  } finally {
    watch.stop();
    await running.stop();
    // Whatever the engine left behind (a JVM whose Python parent was killed) goes too.
    for (const { pid } of watch.last()?.processes ?? []) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }
}

/** Publishes events keyed by id, in order, 5,000 per send. */
async function publish(producer: KafkaProducer, topic: string, events: readonly PurchaseEvent[]) {
  for (let i = 0; i < events.length; i += 5000) {
    await producer.send(
      events.slice(i, i + 5000).map((e) => ({ topic, key: e.id, value: JSON.stringify(e) })),
    );
  }
}

/** Events at a steady rate, each timed from its publication to its notification record. */
async function timeNotifications(
  ctx: MeasureContext,
  topics: Topics,
  watch: ReturnType<typeof watchTree>,
  say: (line: string) => void,
): Promise<{ figures: EngineResult["latency"]; sent: PurchaseEvent[]; from: number; to: number }> {
  const { rate, seconds, kafka, producer } = ctx;
  const count = Math.round(rate * seconds);
  const live = generatePurchases(ctx.words, {
    count,
    seed: 78,
    startMs: Date.now(),
    intervalMs: 1000 / rate,
  });
  const byId = new Map(live.map((e) => [e.id, e]));
  const sentAt = new Map<string, number>();
  const delays: number[] = [];
  let textsEqual = 0;
  const reader = kafka.reader({
    topics: [topics.notifications],
    from: "end",
    maxWaitMs: 5,
    onBatch: (batch) => {
      const now = Date.now();
      for (const r of batch.records) {
        const sent = sentAt.get(r.key ?? "");
        if (sent === undefined) continue;
        delays.push(now - sent);
        const n = JSON.parse(new TextDecoder().decode(r.value ?? new Uint8Array()));
        const event = byId.get(r.key!)!;
        const kind = classifyPurchase(event);
        if (kind !== "visit" && n.text === purchaseMessage(event, kind).text) textsEqual++;
      }
    },
  });
  await reader.ready;
  say(`    ${count} events at ${rate}/s, timing publication → notification`);
  const before = await watch.sample();
  const from = performance.now();
  await publishAtRate(producer, topics.events, live, rate, sentAt);
  const purchases = live.filter((e) => classifyPurchase(e) !== "visit").length;
  const until = Date.now() + 30_000;
  while (delays.length < purchases && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const to = performance.now();
  const after = await watch.sample();
  await reader.stop();
  const d = summarize(delays);
  say(
    `    notified ${delays.length}/${purchases} (texts equal: ${textsEqual}): p50 ${d.p50} ms, p99 ${d.p99} ms`,
  );
  return {
    figures: {
      rate,
      seconds,
      events: count,
      purchases,
      notified: delays.length,
      p50Ms: d.p50,
      p99Ms: d.p99,
      maxMs: d.max,
      cpuSeconds: after.cpuSeconds - before.cpuSeconds,
      textsEqual,
    },
    sent: live,
    from,
    to,
  };
}

/** Per query: how many micro-batches ran and how long they took (p50, max). */
function microBatchFigures(
  batches: readonly MicroBatch[],
): MicroBatchFigures {
  const out: MicroBatchFigures = {};
  for (const query of new Set(batches.map((b) => b.query))) {
    const mine = batches.filter((b) => b.query === query);
    const d = summarize(mine.map((b) => b.durationMs));
    out[query] = { count: mine.length, p50Ms: d.p50, maxMs: d.max };
  }
  return out;
}

/**
 * Closes every window with one last event a window later, then compares the engine's windows with
 * a direct count of everything it was sent.
 */
async function checkWindows(
  ctx: MeasureContext,
  topics: Topics,
  sent: readonly PurchaseEvent[],
  say: (line: string) => void,
) {
  const last = Math.max(...sent.map((e) => Date.parse(e.ts)));
  const closingStart = (Math.floor(last / ctx.windowMs) + 1) * ctx.windowMs;
  const [closing] = generatePurchases(ctx.words, {
    count: 1,
    seed: 79,
    startMs: closingStart + ctx.latenessMs,
  });
  await publish(ctx.producer, topics.events, [closing!]);
  const expected = directCounts([...sent, closing!], ctx.windowMs);
  const values: string[] = [];
  const reader = ctx.kafka.reader({
    topics: [topics.windows],
    onBatch: (batch) => {
      for (const r of batch.records) values.push(new TextDecoder().decode(r.value!));
    },
  });
  await reader.ready;
  const check = () => {
    const got = windowsOfRecords(values);
    return compareWindows(expected, got.windows, closingStart, got.duplicates);
  };
  // Despacho closes the windows of the partitions the last event missed after ANALYTICS_IDLE_MS.
  const until = Date.now() + 60_000;
  let result = check();
  while (result.equal < result.expected && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 250));
    result = check();
  }
  await new Promise((r) => setTimeout(r, 500)); // a repeated window would come now
  result = check();
  await reader.stop();
  say(
    `    windows equal to a direct count: ${result.equal}/${result.expected}${
      result.differing.length ? `; first differing: ${JSON.stringify(result.differing[0])}` : ""
    }`,
  );
  return result;
}

/**
 * The comparison as Markdown: the side-by-side table and what differs between the engines.
 *
 * @param c What {@linkcode benchSpark} measured.
 * @returns Markdown lines.
 */
export function formatSparkComparison(c: SparkComparison): string[] {
  const n = (v: number) => v.toLocaleString("en-US");
  const batches = c.spark.realTimeMs > 0
    ? `notifications in real-time mode (batches of ${
      n(c.spark.realTimeMs)
    } ms), windows in micro-batches`
    : "micro-batches back to back";
  return [
    ...formatComparison(c.engines),
    `The same ${n(c.events)} events for each engine, on ${n(c.partitions)} partition${
      c.partitions === 1 ? "" : "s"
    }; tumbling windows of ${n(c.windowMs)} ms, watermark ${
      n(c.latenessMs)
    } ms behind the largest event time. ` +
    `Spark ${c.spark.version} (pyspark, ${c.spark.master}, ${c.spark.connector}, ${c.spark.java}): two ` +
    `queries (notifications; windows in append mode), 2 shuffle partitions, ${batches}, ` +
    "checkpoints on disk, Kafka sink at least once. Despacho: one worker, each batch's records and " +
    "offsets in one Kafka transaction (exactly once), windows per partition with percentiles, top " +
    "products and countries besides the counts.",
    "",
  ];
}

if (import.meta.main) {
  let a;
  try {
    a = parseArgs({
      args: Deno.args,
      options: {
        events: { type: "string", default: "100000" },
        rate: { type: "string", default: "1000" },
        seconds: { type: "string", default: "5" },
        runs: { type: "string", default: "3" },
        "spark-real-time": { type: "string", default: "0" },
        partitions: { type: "string", default: "5" },
        engines: { type: "string", default: ENGINES.join(",") },
        client: { type: "string", default: loadConfig({}).KAFKA_CLIENT },
        brokers: { type: "string" },
        out: { type: "string", default: `${ROOT}bench/results` },
      },
    }).values;
  } catch (error) {
    console.error(
      `${
        (error as Error).message
      }\nusage: deno task bench:spark [--events 100000] [--rate 1000] [--seconds 5] [--runs 3] [--partitions 5] [--spark-real-time MS] [--engines despacho,spark] [--client kafkajs|platformatic] [--brokers LIST] [--out DIR]`,
    );
    Deno.exit(2);
  }
  const engines = a.engines.split(",").map((e) => e.trim());
  const positive = (name: string, v: string) =>
    !(Number.isInteger(Number(v)) && Number(v) >= 1) &&
    `--${name} must be a whole number >= 1: current value is "${v}"`;
  const bad = [
    positive("events", a.events),
    positive("rate", a.rate),
    positive("seconds", a.seconds),
    positive("partitions", a.partitions),
    positive("runs", a.runs),
    (engines.length === 0 || engines.some((e) => !(ENGINES as readonly string[]).includes(e))) &&
    `--engines must list ${ENGINES.join(" and/or ")}: current value is "${a.engines}"`,
    !(KAFKA_CLIENTS as readonly string[]).includes(a.client) &&
    `--client must be one of ${KAFKA_CLIENTS.join(", ")}: current value is "${a.client}"`,
  ].filter(Boolean);
  if (bad.length > 0) {
    console.error(`Cannot run the Spark comparison: ${bad.join("; ")}`);
    Deno.exit(2);
  }
  const say = (line: string) => console.error(line);
  const started = new Date();
  let broker: RunningKafka | null = null;
  const kafkaDir = `${ROOT}.cache/bench-kafka/${Date.now().toString(36)}`;
  let comparison: SparkComparison | null = null;
  try {
    if (engines.includes("spark")) await ensureSpark(say); // before the broker: no idle JVM
    const brokers = a.brokers ??
      (broker = await startKafka({ port: 0, dataDir: kafkaDir, say })).brokers;
    comparison = await benchSpark({
      brokers,
      client: a.client as KafkaClientName,
      events: Number(a.events),
      latencyRate: Number(a.rate),
      latencySeconds: Number(a.seconds),
      partitions: Number(a.partitions),
      runs: Number(a.runs),
      sparkRealTimeMs: Number(a["spark-real-time"]),
      engines: engines as Engine[],
    }, say);
  } catch (error) {
    console.error((error as Error).message);
  } finally {
    if (broker) {
      await broker.stop();
      await Deno.remove(kafkaDir, { recursive: true }).catch(() => {});
    }
  }
  // Exiting only now: Deno.exit in the catch above would leave the broker running.
  if (comparison === null) Deno.exit(1);
  const report = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    command: `deno task bench:spark ${Deno.args.join(" ")}`.trim(),
    machine: {
      cores: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()}`,
      cpu: os.cpus()[0]?.model,
    },
    versions: { deno: Deno.version.deno, kafka: KAFKA_VERSION, client: a.client },
    spark: comparison,
  };
  const dir = `${a.out}/${started.toISOString().replace(/[:.]/g, "-")}-spark`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/results.json`, JSON.stringify(report, null, 2));
  const text = [
    `Command: \`${report.command}\` (${report.machine.cores} cores, ${report.machine.memoryGiB} GiB)`,
    "",
    ...formatSparkComparison(comparison),
  ].join("\n");
  await Deno.writeTextFile(`${dir}/report.md`, text);
  console.log(text);
  console.error(`results and report in ${dir}`);
}
