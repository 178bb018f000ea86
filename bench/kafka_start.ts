/**
 * `deno task bench:kafka-start [--runs 3] [--idle-s 20]`: what a broker start costs on this
 * machine, before and after the small-machine tuning of infra/kafka.ts, side by side in one run.
 *
 * Four set-ups, interleaved run by run so a noisy machine hurts them alike:
 * - `stock`: the JVM flags and broker thread counts used before, data on disk, no class sharing;
 * - `small, disk`: fewer broker threads, C1-only serial-GC formatter, the class-data-sharing
 *   archive, data on disk;
 * - `small, memory`: the same with the data on `/dev/shm` (what the tests use);
 * - `small, memory, serial GC`: the same with the serial collector instead of G1.
 *
 * For each: wall time to format, wall time until the broker answers, the broker JVM's CPU seconds
 * until then (what a machine with CPU steal pays for), its CPU use while idle and its RSS. Medians
 * with min–max. Writes `bench/results/kafka-start-<time>.json` and prints a Markdown table.
 */
import { parseArgs } from "node:util";
import { summarize } from "../datasets/stats.ts";
import { ensureKafkaJars, startKafka } from "../infra/kafka.ts";
import { procStat } from "../infra/process.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const args = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "3" }, "idle-s": { type: "string", default: "20" } },
}).values;
const runs = Number(args.runs);
const idleS = Number(args["idle-s"]);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(idleS) || idleS < 1) {
  console.error(
    `Cannot measure: --runs and --idle-s must be whole numbers >= 1: current values are "${args.runs}", "${
      args["idle-s"]
    }"`,
  );
  Deno.exit(2);
}

const SETUPS = [
  { name: "stock", tuning: "stock", memoryData: false },
  { name: "small, disk", tuning: "small", memoryData: false },
  { name: "small, memory", tuning: "small", memoryData: true },
  { name: "small, memory, serial GC", tuning: "small", memoryData: true, gc: "serial" },
] as const;

interface Sample {
  formatS: number;
  readyS: number;
  cpuToReadyS: number;
  idleCpuPct: number;
  rssMiB: number;
}

await ensureKafkaJars();
// The archive the small set-up uses is written by a first clean stop; make sure there is one.
{
  const dir = await Deno.makeTempDir({ prefix: "despacho-kafka-warm-" });
  const k = await startKafka({ port: 0, dataDir: dir, say: () => {} });
  await k.stop();
  await k.remove();
}

const samples = new Map<string, Sample[]>(SETUPS.map((s) => [s.name, []]));
for (let run = 1; run <= runs; run++) {
  for (const setup of SETUPS) {
    const dir = await Deno.makeTempDir({ prefix: "despacho-kafka-start-" });
    let formatS = NaN;
    const t0 = performance.now();
    const k = await startKafka({
      port: 0,
      dataDir: dir,
      tuning: setup.tuning,
      memoryData: setup.memoryData,
      ...("gc" in setup ? { gc: setup.gc } : {}),
      say: (line) => {
        const m = /formatted in ([\d.]+) s/.exec(line);
        if (m) formatS = Number(m[1]);
      },
    });
    const readyS = (performance.now() - t0) / 1000 - formatS;
    const pid = k.pid;
    const atReady = await procStat(pid);
    await new Promise((r) => setTimeout(r, idleS * 1000));
    const later = await procStat(pid);
    const sample: Sample = {
      formatS,
      readyS,
      cpuToReadyS: atReady.cpuS,
      idleCpuPct: (later.cpuS - atReady.cpuS) / idleS * 100,
      rssMiB: later.rssMiB,
    };
    samples.get(setup.name)!.push(sample);
    console.error(`run ${run}/${runs} ${setup.name}: ${JSON.stringify(sample)}`);
    await k.remove();
  }
}

const cell = (values: number[], digits: number) => {
  const s = summarize(values);
  return `${s.p50.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
};
const lines = [
  `Broker start on this machine, median (min–max) of ${runs} runs, idle CPU over ${idleS} s:`,
  "",
  "| set-up | format, s | start to answering, s | JVM CPU to answering, s | idle CPU, % of a core | RSS, MiB |",
  "| --- | --- | --- | --- | --- | --- |",
  ...SETUPS.map((setup) => {
    const list = samples.get(setup.name)!;
    const pick = (k: keyof Sample) => list.map((s) => s[k]);
    return `| ${setup.name} | ${cell(pick("formatS"), 1)} | ${cell(pick("readyS"), 1)} | ${
      cell(pick("cpuToReadyS"), 2)
    } | ${cell(pick("idleCpuPct"), 1)} | ${cell(pick("rssMiB"), 0)} |`;
  }),
];
console.log(lines.join("\n"));
const out = `${ROOT}bench/results/kafka-start-${
  new Date().toISOString().replaceAll(":", "-")
}.json`;
await Deno.mkdir(`${ROOT}bench/results`, { recursive: true });
await Deno.writeTextFile(
  out,
  JSON.stringify({ runs, idleS, samples: Object.fromEntries(samples) }, null, 2),
);
console.error(`written ${out}`);
