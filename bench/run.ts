/**
 * `deno task bench`: the first seed's eight scenarios — dataset {100, 1000} × load {constant,
 * spike} × partitions {1, 5} — measured open loop on a real Kafka broker, next to the seed's
 * published means; plus, unless turned off, the capacity ramp, the gateway's intake ceiling, the
 * purchase-analytics figures and the failover time. Each is repeated `--runs` times (runs of
 * every `--clients` interleaved, on one broker) and reported as medians with their spread, with
 * what each process cost. Writes `bench/results/<time>/results.json`, `report.md` and SVG plots.
 */
import { loadConfig } from "../lib/config.ts";
import { KAFKA_CLIENTS, type KafkaClientName } from "../lib/kafka/mod.ts";
import os from "node:os";
import { parseArgs } from "node:util";
import { readOrdersCsv } from "../datasets/orders.ts";
import { KAFKA_VERSION, type RunningKafka, startKafka } from "../infra/kafka.ts";
import { formatReport, type MeasuredRuns, type RunResult } from "./report.ts";
import { type Deployment, runScenario, type ScenarioResult } from "./scenario.ts";
import { latencyHistogramSvg, latencyOverTimeSvg } from "./svg.ts";
import type { SparkComparison } from "./spark.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** Options of {@linkcode runBench}. */
export interface BenchOptions {
  datasets: number[];
  loads: ("constant" | "spike")[];
  partitions: number[];
  /**
   * Processing workers per scenario, by partitions; a partition count not listed gets one worker
   * per partition. @default {@linkcode DEFAULT_WORKERS}
   */
  workers: Record<number, number>;
  rate: number;
  dwellMs: number;
  /** The Kafka client libraries measured, each in every run (roles, gateway and observer). */
  clients: KafkaClientName[];
  /** Times everything is measured; the report gives medians and their spread. */
  runs: number;
  brokers?: string;
  target?: string;
  /** Run the eight scenarios (or those the options select). */
  scenarios: boolean;
  capacity: boolean;
  intake: boolean;
  purchases: boolean;
  /** Also the same purchase events through Spark (`bench/spark.ts`; not in the default run). */
  spark?: boolean;
  failover: boolean;
  outDir: string;
  /** Use only the first `limit` rows of each dataset (smoke runs). */
  limit?: number;
  /** Write a CPU profile of every process the bench starts into this folder. */
  profileDir?: string;
}

/**
 * Processing workers per partition count on this 2-core machine: one worker takes all 5
 * partitions (it handles up to 8 at once); five would be five more processes on 2 cores with the
 * gateway, the notification worker, the broker and the load client (see bench/README.md).
 */
export const DEFAULT_WORKERS: Record<number, number> = { 1: 1, 5: 1 };

/**
 * What results.json holds (orders' samples apart, under `samples`): the runs and where they were
 * measured, as the report reads them, and when and with which options.
 */
export interface BenchReport extends MeasuredRuns {
  started: string;
  finished: string;
  options: BenchOptions;
}

/** Runs the bench and writes its report; returns the results. */
export async function runBench(
  options: BenchOptions,
  say: (line: string) => void = (l) => console.error(l),
) {
  let kafka: RunningKafka | null = null;
  const kafkaDir = `${ROOT}.cache/bench-kafka/${Date.now().toString(36)}`;
  const brokers = options.brokers ??
    (kafka = await startKafka({ port: 0, dataDir: kafkaDir, say })).brokers;
  const started = new Date();
  const runs: RunResult[] = [];
  let spark: SparkComparison | undefined;
  const outboxRoot = `outbox/bench/${started.toISOString().replace(/[:.]/g, "-")}`;
  await spreadOutboxes(`${ROOT}outbox/bench`);
  try {
    for (let run = 1; run <= options.runs; run++) {
      for (const client of options.clients) {
        say(`run ${run}/${options.runs}, client ${client}`);
        runs.push(
          await runOnce(options, client, run, {
            brokers,
            client,
            ...(options.target ? { target: options.target } : {}),
            ...(options.profileDir ? { profileDir: options.profileDir } : {}),
            ...(kafka ? { brokerPid: kafka.pid } : {}),
            outboxRoot,
          }, say),
        );
      }
    }
    if (options.spark) {
      const { benchSpark } = await import("./spark.ts");
      spark = await benchSpark({ brokers, client: options.clients[0]! }, say);
    }
  } finally {
    if (kafka) {
      await kafka.stop();
      await Deno.remove(kafkaDir, { recursive: true }).catch(() => {});
    }
    await Deno.remove(`${ROOT}${outboxRoot}`, { recursive: true }).catch(() => {});
  }
  const report: BenchReport = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    command: `deno task bench ${Deno.args.join(" ")}`.trim(),
    machine: {
      cores: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()}`,
      cpu: os.cpus()[0]?.model,
    },
    versions: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      kafka: KAFKA_VERSION,
      kafkajs: "2.2.4",
      "@platformatic/kafka": "2.12.1",
    },
    options,
    runs,
    ...(spark ? { spark } : {}),
  };
  const dir = `${options.outDir}/${started.toISOString().replace(/[:.]/g, "-")}`;
  await writeResults(dir, report);
  const text = formatReport([report]);
  await Deno.writeTextFile(`${dir}/report.md`, text);
  return { dir, report, text };
}

/**
 * Marks the bench's outbox folder a top directory (ext4 `chattr +T`), best effort: each run's
 * folder then lands in block groups of its own. A run writes and at its end deletes some 10⁵ mail
 * files, and ext4 without a journal skips inodes deleted in the last minutes when it creates a
 * file: in the same block groups creating a file took 0.7 ms instead of 0.02 ms here, which made
 * mail the largest cost of the next run.
 */
async function spreadOutboxes(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await new Deno.Command("chattr", { args: ["+T", dir], stdout: "null", stderr: "null" })
    .output().catch(() => {});
}

async function runOnce(
  options: BenchOptions,
  client: KafkaClientName,
  run: number,
  deployment: Deployment,
  say: (line: string) => void,
): Promise<RunResult> {
  const result: RunResult = { client, run, scenarios: [] };
  const specs = !options.scenarios
    ? []
    : options.datasets.flatMap((rows) =>
      options.loads.flatMap((load) =>
        options.partitions.map((partitions) => ({ rows, load, partitions }))
      )
    );
  for (const [i, s] of specs.entries()) {
    const orders = readOrdersCsv(await Deno.readTextFile(`${ROOT}datasets/orders-${s.rows}.csv`))
      .slice(0, options.limit);
    const name = `${s.rows}-${s.load}-${s.partitions}`;
    say(`[${i + 1}/${specs.length}] scenario ${name} (${client})`);
    const r = await runScenario(
      {
        name,
        dataset: `orders-${s.rows}.csv`,
        orders,
        load: s.load,
        rate: options.rate,
        partitions: s.partitions,
        processingWorkers: options.workers[s.partitions] ?? s.partitions,
        dwellMs: options.dwellMs,
        settleMs: 30_000 + 3 * options.dwellMs,
      },
      deployment,
      say,
    );
    result.scenarios.push(r);
    const l = r.latency.finalizado;
    say(
      `    finalized ${r.finalized}/${r.orders}, mean ${l.mean.toFixed(1)} ms, p99 ${
        l.p99.toFixed(1)
      } ms, ${r.throughput.toFixed(0)} orders/s`,
    );
  }
  if (options.capacity && !options.target) {
    const { capacityRamp } = await import("./capacity.ts");
    result.capacity = await capacityRamp({ dwellMs: options.dwellMs }, deployment, say);
  }
  if (options.intake && !options.target) {
    const { intakeCeiling } = await import("./capacity.ts");
    result.intake = await intakeCeiling({}, deployment, say);
  }
  if (options.purchases) {
    const { benchPurchases } = await import("./purchases.ts");
    result.purchases = await benchPurchases({
      brokers: deployment.brokers,
      client,
      ...(deployment.brokerPid === undefined ? {} : { brokerPid: deployment.brokerPid }),
      ...(deployment.profileDir === undefined ? {} : { profileDir: deployment.profileDir }),
    }, say);
  }
  if (options.failover && !options.target) {
    const { measureFailover } = await import("./failover.ts");
    result.failover = await measureFailover({ dwellMs: options.dwellMs }, deployment, say);
  }
  return result;
}

/** Writes results.json (orders' samples apart) and the plots of each scenario's last run. */
async function writeResults(dir: string, report: BenchReport): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const withoutSamples = {
    ...report,
    runs: report.runs.map((r) => ({
      ...r,
      scenarios: r.scenarios.map(({ samples: _s, ...s }) => s),
    })),
  };
  const samples = Object.fromEntries(
    report.runs.flatMap((r) =>
      r.scenarios.map((s) => [`${r.client}/${r.run}/${s.spec.name}`, s.samples])
    ),
  );
  await Deno.writeTextFile(
    `${dir}/results.json`,
    JSON.stringify({ ...withoutSamples, samples }, null, 2),
  );
  const last = new Map<string, ScenarioResult>();
  const several = new Set(report.runs.map((r) => r.client)).size > 1;
  for (const r of report.runs) {
    for (const s of r.scenarios) last.set(`${several ? `${r.client}-` : ""}${s.spec.name}`, s);
  }
  for (const [name, s] of last) {
    const points = s.samples.filter((x) => x.finalizado !== null).map((x) => ({
      x: x.scheduledMs / 1000,
      y: x.finalizado!,
    }));
    const title = `${s.spec.dataset}, ${s.spec.load}, ${s.spec.partitions} partition(s)`;
    await Deno.writeTextFile(`${dir}/${name}-over-time.svg`, latencyOverTimeSvg(title, points));
    await Deno.writeTextFile(
      `${dir}/${name}-histogram.svg`,
      latencyHistogramSvg(title, points.map((p) => p.y)),
    );
  }
}

/**
 * Reads the results.json of earlier bench runs (each a folder) for {@linkcode formatReport}:
 * `--merge` reports several shorter runs as one, so that no single run holds the machine long.
 */
export async function readResults(dirs: readonly string[]): Promise<BenchReport[]> {
  return await Promise.all(
    dirs.map(async (d) => JSON.parse(await Deno.readTextFile(`${d}/results.json`)) as BenchReport),
  );
}

const USAGE =
  "usage: deno task bench [--runs 3] [--clients platformatic[,kafkajs]] [--datasets 100,1000] " +
  "[--loads constant,spike] [--partitions 1,5] [--workers 1:1,5:1] [--rate 50] [--dwell 0] " +
  "[--brokers LIST --target URL] [--no-scenarios] [--no-capacity] [--no-intake] [--no-purchases] " +
  "[--no-failover] [--spark] [--profile DIR] [--out DIR] | --merge DIR,DIR…";

if (import.meta.main) {
  let a;
  try {
    a = parseArgs({
      args: Deno.args,
      options: {
        runs: { type: "string", default: "3" },
        clients: { type: "string", default: loadConfig({}).KAFKA_CLIENT },
        datasets: { type: "string", default: "100,1000" },
        loads: { type: "string", default: "constant,spike" },
        partitions: { type: "string", default: "1,5" },
        workers: { type: "string" },
        rate: { type: "string", default: "50" },
        dwell: { type: "string", default: "0" },
        brokers: { type: "string" },
        target: { type: "string" },
        "no-scenarios": { type: "boolean", default: false },
        "no-capacity": { type: "boolean", default: false },
        "no-intake": { type: "boolean", default: false },
        "no-purchases": { type: "boolean", default: false },
        spark: { type: "boolean", default: false },
        "no-failover": { type: "boolean", default: false },
        out: { type: "string", default: `${ROOT}bench/results` },
        limit: { type: "string" },
        profile: { type: "string" },
        merge: { type: "string" },
      },
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
  if (a.merge !== undefined) {
    const reports = await readResults(a.merge.split(",").map((d) => d.trim()));
    console.log(formatReport(reports));
    Deno.exit(0);
  }
  const list = (s: string) => s.split(",").map((x) => Number(x.trim()));
  const datasets = list(a.datasets);
  const loads = a.loads.split(",").map((x) => x.trim());
  const partitions = list(a.partitions);
  const clients = a.clients.split(",").map((x) => x.trim());
  const workers: Record<number, number> = a.workers === undefined
    ? DEFAULT_WORKERS
    : /^\d+$/.test(a.workers)
    ? Object.fromEntries(partitions.map((p) => [p, Number(a.workers)]))
    : Object.fromEntries(a.workers.split(",").map((x) => x.split(":").map(Number)));
  const bad = [
    datasets.some((d) => d !== 100 && d !== 1000) &&
    `--datasets must list 100 and/or 1000: current value is "${a.datasets}"`,
    loads.some((l) => l !== "constant" && l !== "spike") &&
    `--loads must list constant and/or spike: current value is "${a.loads}"`,
    partitions.some((p) => !Number.isInteger(p) || p < 1) &&
    `--partitions must list whole numbers >= 1: current value is "${a.partitions}"`,
    Object.entries(workers).some(([p, w]) => !(Number(p) >= 1) || !Number.isInteger(w) || w < 0) &&
    `--workers must be N or PARTITIONS:N,…: current value is "${a.workers}"`,
    !(Number(a.rate) > 0) && `--rate must be above 0: current value is "${a.rate}"`,
    !(Number(a.dwell) >= 0) && `--dwell must be 0 or more: current value is "${a.dwell}"`,
    !(Number.isInteger(Number(a.runs)) && Number(a.runs) >= 1) &&
    `--runs must be a whole number >= 1: current value is "${a.runs}"`,
    (a.target === undefined) !== (a.brokers === undefined) && "--target and --brokers go together",
    clients.some((c) => !(KAFKA_CLIENTS as readonly string[]).includes(c)) &&
    `--clients must list ${KAFKA_CLIENTS.join(" and/or ")}: current value is "${a.clients}"`,
  ].filter(Boolean);
  if (bad.length > 0) {
    console.error(`Cannot run bench: ${bad.join("; ")}`);
    Deno.exit(2);
  }
  const { dir, text } = await runBench({
    datasets,
    loads: loads as ("constant" | "spike")[],
    partitions,
    workers,
    rate: Number(a.rate),
    dwellMs: Number(a.dwell),
    clients: clients as KafkaClientName[],
    runs: Number(a.runs),
    ...(a.brokers ? { brokers: a.brokers } : {}),
    ...(a.target ? { target: a.target } : {}),
    scenarios: !a["no-scenarios"],
    capacity: !a["no-capacity"],
    intake: !a["no-intake"],
    purchases: !a["no-purchases"],
    spark: a.spark,
    failover: !a["no-failover"],
    outDir: a.out,
    ...(a.limit ? { limit: Number(a.limit) } : {}),
    ...(a.profile ? { profileDir: a.profile } : {}),
  });
  console.log(text);
  console.error(`results, report and plots in ${dir}`);
}
