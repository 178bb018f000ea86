/**
 * The two engines of the Spark comparison (`bench/spark.ts`), started the same way from the
 * bench's side: Despacho's `worker --role purchase-analytics` through its `deno task`, and the
 * Spark job (`bench/spark/job.py`) in the venv of `bench/spark_setup.ts`. Each says how far it has
 * processed the events topic, so the bench can time a backlog the same way for both.
 */
import type { KafkaClient, KafkaClientName } from "../lib/kafka/mod.ts";
import { waitFor } from "../lib/wait.ts";
import { startupTimeoutMs } from "../infra/kafka.ts";
import { spawnTask } from "./procs.ts";
import type { SparkInstall } from "./spark_setup.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** What both engines are started with. */
export interface EngineSettings {
  kafka: KafkaClient;
  brokers: string;
  /** Kafka client of Despacho's worker. */
  client: KafkaClientName;
  /** Partitions of the topics. */
  partitions: number;
  windowMs: number;
  latenessMs: number;
  /** Spark's notifications query in real-time mode with batches of this many ms; 0: micro-batches. */
  sparkRealTimeMs: number;
}

/** The topics of one engine's run. */
export interface Topics {
  events: string;
  notifications: string;
  windows: string;
}

/** A started engine. */
export interface Running {
  pid: number;
  /** Offsets of the events topic that every part of the engine has processed, summed. */
  processed(): Promise<number>;
  stop(): Promise<void>;
  /** Its last log lines, for error messages. */
  tail(): string;
  /** Spark: every micro-batch finished so far, with when the bench heard of it. */
  batches?(): readonly MicroBatch[];
}

/** One finished micro-batch of a Spark query. */
export interface MicroBatch {
  query: string;
  /** Its duration, trigger to commit, as Spark reports it. */
  durationMs: number;
  rows: number;
  /** `performance.now()` when its progress line was read. */
  at: number;
}

/**
 * Starts `worker --role purchase-analytics` on the topics, with its `deno task` (the permission
 * flags of `deno task start`), and waits until it is analysing.
 *
 * @param topics Its input and output topics.
 * @param prefix Names of its group, transactional id and other topics.
 * @param ctx Broker, client, partitions, windows.
 * @returns The running worker; `processed()` reads its group's committed offsets.
 * @throws {Error} When it exits or is not ready within `STARTUP_TIMEOUT_MS`.
 */
export async function startDespacho(
  topics: Topics,
  prefix: string,
  ctx: EngineSettings,
): Promise<Running> {
  const groupId = `${prefix}-purchase-analytics`;
  const worker = await spawnTask("purchase-analytics", "worker", ["--role", "purchase-analytics"], {
    KAFKA_BROKERS: ctx.brokers,
    KAFKA_CLIENT: ctx.client,
    TOPIC_PURCHASES: topics.events,
    TOPIC_PURCHASE_NOTIFICATIONS: topics.notifications,
    TOPIC_PURCHASE_ANALYTICS: topics.windows,
    TOPIC_PURCHASE_STATE: `${prefix}-state`,
    TOPIC_DEAD_LETTER: `${prefix}-dlq`,
    TOPIC_PARTITIONS: String(ctx.partitions),
    GROUP_ID_PREFIX: prefix,
    INSTANCE_ID: `${prefix}-1`,
    PURCHASE_CONSOLE: "off",
    ANALYTICS_WINDOW_MS: String(ctx.windowMs),
    ANALYTICS_LATENESS_MS: String(ctx.latenessMs),
    LOG_LEVEL: "info",
  }, /"analysing purchases"/);
  return {
    pid: worker.child.pid,
    processed: async () =>
      (await ctx.kafka.groupOffsets(groupId, topics.events))
        .reduce((n, p) => n + Math.max(0, Number(p.offset)), 0),
    stop: () => worker.stop(),
    tail: () => worker.tail(),
  };
}

/**
 * Starts the Spark job (`bench/spark/job.py`) on the topics, its log in
 * `.cache/spark-bench/<prefix>/spark.log`, and waits until both its queries have started.
 *
 * @param spark Where pyspark and the connector are (`ensureSpark` of `bench/spark_setup.ts`).
 * @param topics Its input and output topics.
 * @param prefix Names its folder (log, checkpoints).
 * @param ctx Broker, windows, real-time mode.
 * @param say Progress lines.
 * @returns The running job; `processed()` is the smaller of its two queries' end offsets, and
 * `stop()` sends SIGTERM (SIGKILL after 30 s) and deletes the checkpoints.
 * @throws {Error} When it exits or is not ready within `STARTUP_TIMEOUT_MS`, with its last lines.
 */
export async function startSpark(
  spark: SparkInstall,
  topics: Topics,
  prefix: string,
  ctx: EngineSettings,
  say: (line: string) => void,
): Promise<Running> {
  // Long on purpose: a child's life (spawn, output, ready, stop) on shared state.
  const dir = `${ROOT}.cache/spark-bench/${prefix}`;
  await Deno.mkdir(dir, { recursive: true });
  const log = await Deno.open(`${dir}/spark.log`, { create: true, append: true });
  say(`    starting the Spark job (log ${dir}/spark.log)`);
  const child = new Deno.Command(spark.python, {
    args: [
      spark.job,
      "--brokers",
      ctx.brokers,
      "--jars",
      spark.jars,
      "--events",
      topics.events,
      "--notifications",
      topics.notifications,
      "--windows",
      topics.windows,
      "--checkpoints",
      `${dir}/checkpoints`,
      "--window-ms",
      String(ctx.windowMs),
      "--lateness-ms",
      String(ctx.latenessMs),
      "--real-time-ms",
      String(ctx.sparkRealTimeMs),
    ],
    cwd: ROOT,
    env: { SPARK_LOCAL_IP: "127.0.0.1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const tail: string[] = [];
  const ends = new Map<string, number>();
  const batches: MicroBatch[] = [];
  let ready = false;
  let exited: Deno.CommandStatus | null = null;
  const status = child.status.then((s) => (exited = s));
  const lines = async (stream: ReadableStream<Uint8Array>, each: (line: string) => void) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      parts.forEach(each);
    }
  };
  const encoder = new TextEncoder();
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > 30) tail.shift();
  };
  const drained = Promise.all([
    lines(child.stdout, (line) => {
      let m;
      try {
        m = JSON.parse(line);
      } catch {
        keep(line);
        return;
      }
      if (m.ready) ready = true;
      if (m.progress) {
        ends.set(m.progress.query, m.progress.end);
        batches.push({
          query: m.progress.query,
          durationMs: m.progress.durationMs ?? NaN,
          rows: m.progress.rows,
          at: performance.now(),
        });
      }
    }),
    lines(child.stderr, (line) => {
      keep(line);
      log.writeSync(encoder.encode(line + "\n"));
    }),
  ]).catch(() => {}).finally(() => log.close());
  const kill = async (signal: Deno.Signal, graceMs: number) => {
    if (exited) return;
    try {
      child.kill(signal);
    } catch { /* gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, graceMs);
    await status;
    clearTimeout(timer);
    await drained;
  };
  try {
    await waitFor("the Spark job to start its queries", () => {
      if (ready) return Promise.resolve({ ready: true, value: undefined });
      if (exited) {
        return Promise.resolve({
          ready: false,
          fatal: new Error(`it exited with code ${exited.code}`),
        });
      }
      return Promise.resolve({ ready: false, why: (tail.at(-1) ?? "silent").slice(0, 200) });
    }, {
      timeoutMs: startupTimeoutMs(),
      intervalMs: 50,
      progressMs: 10_000,
      say: (l) => say(`    [spark] ${l}`),
    });
  } catch (error) {
    await kill("SIGKILL", 0);
    throw new Error(
      `Cannot start the Spark job: ${(error as Error).message}: ${tail.slice(-15).join("\n")}`,
    );
  }
  return {
    pid: child.pid,
    processed: () => {
      if (exited) {
        return Promise.reject(
          new Error(`the Spark job exited with code ${exited.code}: ${tail.join("\n")}`),
        );
      }
      return Promise.resolve(Math.min(ends.get("notifications") ?? 0, ends.get("windows") ?? 0));
    },
    stop: async () => {
      await kill("SIGTERM", 30_000);
      await Deno.remove(`${dir}/checkpoints`, { recursive: true }).catch(() => {});
    },
    tail: () => tail.join("\n"),
    batches: () => batches,
  };
}
