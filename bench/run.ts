/**
 * `deno task bench`: the first seed's eight scenarios — dataset {100, 1000} × load {constant,
 * spike} × partitions {1, 5} — measured open loop on a real Kafka broker, next to the seed's
 * published means; plus, unless turned off, the capacity ramp, the gateway's intake ceiling and
 * the purchase-analytics figures. Writes `bench/results/<time>/results.json` and SVG plots.
 */
import { loadConfig } from "../lib/config.ts";
import { KAFKA_CLIENTS, type KafkaClientName } from "../lib/kafka/mod.ts";
import os from "node:os";
import { parseArgs } from "node:util";
import { readOrdersCsv } from "../datasets/orders.ts";
import { KAFKA_VERSION, type RunningKafka, startKafka } from "../infra/kafka.ts";
import { runScenario, type ScenarioResult } from "./scenario.ts";
import { latencyHistogramSvg, latencyOverTimeSvg } from "./svg.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** The seed's Tables 1 and 2: mean latency in ms. */
export const SEED_MEANS: Record<string, number> = {
  "100-constant-5": 190,
  "100-constant-1": 200,
  "100-spike-5": 200,
  "100-spike-1": 210,
  "1000-constant-5": 190,
  "1000-constant-1": 210,
  "1000-spike-5": 190,
  "1000-spike-1": 220,
};

/** Options of {@linkcode runBench}. */
export interface BenchOptions {
  datasets: number[];
  loads: ("constant" | "spike")[];
  partitions: number[];
  /** Processing workers per scenario; null: one per partition. */
  workers: number | null;
  rate: number;
  dwellMs: number;
  /** The Kafka client library of the roles, the gateway and the observer. */
  client: KafkaClientName;
  brokers?: string;
  target?: string;
  capacity: boolean;
  intake: boolean;
  purchases: boolean;
  outDir: string;
  /** Use only the first `limit` rows of each dataset (smoke runs). */
  limit?: number;
  /** Write a CPU profile of every process the bench starts into this folder. */
  profileDir?: string;
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
  const scenarios: ScenarioResult[] = [];
  const extra: Record<string, unknown> = {};
  const profiled = options.profileDir === undefined ? {} : { profileDir: options.profileDir };
  try {
    const specs = options.datasets.flatMap((rows) =>
      options.loads.flatMap((load) =>
        options.partitions.map((partitions) => ({ rows, load, partitions }))
      )
    );
    for (const [i, s] of specs.entries()) {
      const orders = readOrdersCsv(await Deno.readTextFile(`${ROOT}datasets/orders-${s.rows}.csv`))
        .slice(0, options.limit);
      const name = `${s.rows}-${s.load}-${s.partitions}`;
      say(`[${i + 1}/${specs.length}] scenario ${name}`);
      const result = await runScenario(
        {
          name,
          dataset: `orders-${s.rows}.csv`,
          orders,
          load: s.load,
          rate: options.rate,
          partitions: s.partitions,
          processingWorkers: options.workers ?? s.partitions,
          dwellMs: options.dwellMs,
          settleMs: 30_000 + 3 * options.dwellMs,
        },
        {
          brokers,
          client: options.client,
          ...(options.target ? { target: options.target } : {}),
          ...profiled,
        },
        say,
      );
      scenarios.push(result);
      const l = result.latency.finalizado;
      say(
        `    finalized ${result.finalized}/${result.orders}, mean ${l.mean.toFixed(1)} ms, p99 ${
          l.p99.toFixed(1)
        } ms, ${result.throughput.toFixed(0)} orders/s`,
      );
    }
    if (options.capacity && !options.target) {
      const { capacityRamp } = await import("./capacity.ts");
      extra.capacity = await capacityRamp({
        brokers,
        client: options.client,
        dwellMs: options.dwellMs,
        ...profiled,
      }, say);
    }
    if (options.intake && !options.target) {
      const { intakeCeiling } = await import("./capacity.ts");
      extra.intake = await intakeCeiling({ brokers, client: options.client, ...profiled }, say);
    }
    if (options.purchases) {
      const { benchPurchases } = await import("./purchases.ts");
      extra.purchases = await benchPurchases({ brokers, client: options.client, ...profiled }, say);
    }
  } finally {
    if (kafka) {
      await kafka.stop();
      await Deno.remove(kafkaDir, { recursive: true }).catch(() => {});
    }
  }
  const report = {
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
      client: options.client,
      kafkajs: "2.2.4",
    },
    options,
    scenarios: scenarios.map(({ samples: _s, ...r }) => r),
    ...extra,
  };
  const dir = `${options.outDir}/${started.toISOString().replace(/[:.]/g, "-")}`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/results.json`,
    JSON.stringify(
      { ...report, samples: Object.fromEntries(scenarios.map((s) => [s.spec.name, s.samples])) },
      null,
      2,
    ),
  );
  for (const s of scenarios) {
    const points = s.samples.filter((x) => x.finalizado !== null).map((x) => ({
      x: x.scheduledMs / 1000,
      y: x.finalizado!,
    }));
    const title = `${s.spec.dataset}, ${s.spec.load}, ${s.spec.partitions} partition(s)`;
    await Deno.writeTextFile(
      `${dir}/${s.spec.name}-over-time.svg`,
      latencyOverTimeSvg(title, points),
    );
    await Deno.writeTextFile(
      `${dir}/${s.spec.name}-histogram.svg`,
      latencyHistogramSvg(title, points.map((p) => p.y)),
    );
  }
  const text = formatReport(scenarios, extra);
  await Deno.writeTextFile(`${dir}/report.md`, text);
  return { dir, report, text };
}

/** The report as Markdown: the seed-shaped table, the full table, hops and the targets. */
export function formatReport(
  scenarios: readonly ScenarioResult[],
  extra: Record<string, unknown>,
): string {
  const by = new Map(scenarios.map((s) => [s.spec.name, s]));
  const ms = (v: number | undefined) =>
    v === undefined || Number.isNaN(v) ? "—" : `${v.toFixed(1)} ms`;
  const lines: string[] = [];
  for (const rows of [100, 1000]) {
    if (![...by.keys()].some((k) => k.startsWith(`${rows}-`))) continue;
    lines.push(
      `### Dataset ${rows} rows: mean latency to finalizado (seed's figure in brackets)`,
      "",
      "| | 5 partitions | 1 partition |",
      "| --- | --- | --- |",
    );
    for (const load of ["constant", "spike"]) {
      const cell = (p: number) =>
        `${ms(by.get(`${rows}-${load}-${p}`)?.latency.finalizado.mean)} (${
          SEED_MEANS[`${rows}-${load}-${p}`]
        } ms)`;
      lines.push(
        `| ${load === "constant" ? "Carga (constant)" : "Pico (spike)"} | ${cell(5)} | ${
          cell(1)
        } |`,
      );
    }
    lines.push("");
  }
  lines.push(
    "### Every scenario (latency from the scheduled send)",
    "",
    "| scenario | workers | finalized | mean | p50 | p95 | p99 | max | orders/s | POST p99 | notified p99 |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...scenarios.map((s) => {
      const l = s.latency.finalizado;
      return `| ${s.spec.name} | ${s.spec.processingWorkers} | ${s.finalized}/${s.orders}${
        s.duplicates ? ` (${s.duplicates} dup)` : ""
      } | ${ms(l.mean)} | ${ms(l.p50)} | ${ms(l.p95)} | ${ms(l.p99)} | ${ms(l.max)} | ${
        s.throughput.toFixed(0)
      } | ${ms(s.latency.post.p99)} | ${ms(s.latency.notified.p99)} |`;
    }),
    "",
    "### Where the time goes (p50 / p99 per hop)",
    "",
    "| scenario | POST → 202 | 202 → recibido | recibido → finalizado | finalizado → notified |",
    "| --- | --- | --- | --- | --- |",
    ...scenarios.map((s) =>
      `| ${s.spec.name} | ${
        Object.values(s.hops).map((h) => `${ms(h.p50)} / ${ms(h.p99)}`).join(" | ")
      } |`
    ),
    "",
  );
  lines.push(...targets(scenarios, extra), "");
  for (const [k, v] of Object.entries(extra)) {
    lines.push(`### ${k}`, "", "```json", JSON.stringify(v, null, 2), "```", "");
  }
  return lines.join("\n");
}

function targets(scenarios: readonly ScenarioResult[], extra: Record<string, unknown>): string[] {
  const verdict = (
    name: string,
    value: number | undefined,
    bound: number,
    lower: boolean,
    unit: string,
  ) => {
    if (value === undefined || Number.isNaN(value)) return `- ${name}: not measured in this run`;
    const ok = lower ? value <= bound : value >= bound;
    const by = lower ? value - bound : bound - value;
    return `- ${name}: ${value.toFixed(1)} ${unit} (target ${
      lower ? "≤" : "≥"
    } ${bound} ${unit}) — ${ok ? "met" : `missed by ${by.toFixed(1)} ${unit}`}`;
  };
  const constant = scenarios.filter((s) => s.spec.load === "constant" && s.spec.partitions === 1);
  const worst = (f: (s: ScenarioResult) => number, list: readonly ScenarioResult[]) =>
    list.length ? Math.max(...list.map(f)) : undefined;
  const spike = scenarios.filter((s) => s.spec.load === "spike" && s.orders === 1000);
  const capacity = extra.capacity as { sustainedOrdersPerSec?: number } | undefined;
  const intake = extra.intake as { acceptedPerSec?: number } | undefined;
  const purchases = extra.purchases as { eventsPerSec?: number } | undefined;
  return [
    "### Targets (one broker, dwell 0)",
    "",
    verdict(
      "constant load, worst mean to finalizado (1 partition)",
      worst((s) => s.latency.finalizado.mean, constant),
      20,
      true,
      "ms",
    ),
    verdict(
      "constant load, worst p99 to finalizado (1 partition)",
      worst((s) => s.latency.finalizado.p99, constant),
      60,
      true,
      "ms",
    ),
    spike.length
      ? `- spike of 1000: ${
        spike.map((s) => `${s.spec.partitions}p finalized ${s.finalized}/${s.orders}`).join(", ")
      }`
      : "- spike of 1000: not run",
    verdict(
      "spike of 1000, worst p99 to finalizado",
      worst((s) => s.latency.finalizado.p99, spike),
      500,
      true,
      "ms",
    ),
    verdict(
      "sustained end-to-end throughput",
      capacity?.sustainedOrdersPerSec,
      2000,
      false,
      "orders/s",
    ),
    verdict("gateway intake (acks=all)", intake?.acceptedPerSec, 10_000, false, "POST/s"),
    verdict("purchase-analytics, one worker", purchases?.eventsPerSec, 50_000, false, "events/s"),
  ];
}

if (import.meta.main) {
  let a;
  try {
    a = parseArgs({
      args: Deno.args,
      options: {
        datasets: { type: "string", default: "100,1000" },
        loads: { type: "string", default: "constant,spike" },
        partitions: { type: "string", default: "1,5" },
        workers: { type: "string" },
        rate: { type: "string", default: "50" },
        dwell: { type: "string", default: "0" },
        client: { type: "string", default: loadConfig({}).KAFKA_CLIENT },
        brokers: { type: "string" },
        target: { type: "string" },
        "no-capacity": { type: "boolean", default: false },
        "no-intake": { type: "boolean", default: false },
        "no-purchases": { type: "boolean", default: false },
        out: { type: "string", default: `${ROOT}bench/results` },
        limit: { type: "string" },
        profile: { type: "string" },
      },
    }).values;
  } catch (error) {
    console.error(
      `${
        (error as Error).message
      }\nusage: deno task bench [--datasets 100,1000] [--loads constant,spike] [--partitions 1,5] [--workers N] [--rate 50] [--dwell 0] [--client kafkajs|platformatic] [--brokers LIST --target URL] [--no-capacity] [--no-intake] [--no-purchases]`,
    );
    Deno.exit(2);
  }
  const list = (s: string) => s.split(",").map((x) => Number(x.trim()));
  const datasets = list(a.datasets);
  const loads = a.loads.split(",").map((x) => x.trim());
  const partitions = list(a.partitions);
  const bad = [
    datasets.some((d) => d !== 100 && d !== 1000) &&
    `--datasets must list 100 and/or 1000: current value is "${a.datasets}"`,
    loads.some((l) => l !== "constant" && l !== "spike") &&
    `--loads must list constant and/or spike: current value is "${a.loads}"`,
    partitions.some((p) => !Number.isInteger(p) || p < 1) &&
    `--partitions must list whole numbers >= 1: current value is "${a.partitions}"`,
    !(Number(a.rate) > 0) && `--rate must be above 0: current value is "${a.rate}"`,
    !(Number(a.dwell) >= 0) && `--dwell must be 0 or more: current value is "${a.dwell}"`,
    (a.target === undefined) !== (a.brokers === undefined) && "--target and --brokers go together",
    !(KAFKA_CLIENTS as readonly string[]).includes(a.client) &&
    `--client must be one of ${KAFKA_CLIENTS.join(", ")}: current value is "${a.client}"`,
  ].filter(Boolean);
  if (bad.length > 0) {
    console.error(`Cannot run bench: ${bad.join("; ")}`);
    Deno.exit(2);
  }
  const { dir, text } = await runBench({
    datasets,
    loads: loads as ("constant" | "spike")[],
    partitions,
    workers: a.workers === undefined ? null : Number(a.workers),
    rate: Number(a.rate),
    dwellMs: Number(a.dwell),
    client: a.client as KafkaClientName,
    ...(a.brokers ? { brokers: a.brokers } : {}),
    ...(a.target ? { target: a.target } : {}),
    capacity: !a["no-capacity"],
    intake: !a["no-intake"],
    purchases: !a["no-purchases"],
    outDir: a.out,
    ...(a.limit ? { limit: Number(a.limit) } : {}),
    ...(a.profile ? { profileDir: a.profile } : {}),
  });
  console.log(text);
  console.error(`results, report and plots in ${dir}`);
}
