/**
 * The bench's report as Markdown: per client, the seed-shaped tables, every scenario, where the
 * time goes, the warm-up, what each process cost, capacity, intake, purchase analytics, failover
 * and the targets — each figure the median of the runs with its spread (min–max) — and, when
 * several clients ran, the two side by side.
 */
import type { KafkaClientName } from "../lib/kafka/mod.ts";
import type { Capacity, Intake } from "./capacity.ts";
import { type Costs, sumCosts } from "./cost.ts";
import type { Failover } from "./failover.ts";
import type { benchPurchases } from "./purchases.ts";
import type { ScenarioResult } from "./scenario.ts";
import { type Spread, spread } from "../datasets/stats.ts";
import { formatSparkComparison, type SparkComparison } from "./spark.ts";

/** The purchase-analytics figures of one run. */
export type Purchases = Awaited<ReturnType<typeof benchPurchases>>;

/** Everything measured for one client in one run. */
export interface RunResult {
  client: KafkaClientName;
  run: number;
  scenarios: ScenarioResult[];
  capacity?: Capacity;
  intake?: Intake;
  purchases?: Purchases;
  failover?: Failover;
}

/** What {@linkcode formatReport} reads of a results.json: the runs and where they were measured. */
export interface MeasuredRuns {
  command: string;
  machine: { cores: number; memoryGiB: number; os: string; cpu: string | undefined };
  versions: Record<string, string>;
  runs: RunResult[];
  /** The same purchase events through Despacho and Spark (`--spark`, first client only). */
  spark?: SparkComparison;
}

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

/** The targets of issue 10, one broker, dwell 0 (medians of the runs). */
export const TARGETS = {
  constantMeanMs: 20,
  constantP99Ms: 60,
  spikeP99Ms: 500,
  sustainedOrdersPerSec: 2500,
  purchasesEventsPerSec: 60_000,
  purchasesP99Ms: 50,
  intakePerSec: 10_000,
};

/** `12.3 (11.0–14.2)`, or `12.3` for one value, `—` for none. */
export function fmtSpread(s: Spread, digits = 1, unit = ""): string {
  if (s.n === 0) return "—";
  const f = (x: number) => x.toFixed(digits);
  const u = unit === "" ? "" : ` ${unit}`;
  return s.n === 1 || s.min === s.max
    ? `${f(s.median)}${u}`
    : `${f(s.median)}${u} (${f(s.min)}–${f(s.max)})`;
}

const of = (values: readonly number[], digits = 1, unit = "") =>
  fmtSpread(spread(values), digits, unit);

/** The report of one or more bench runs (several `results.json` merged). */
export function formatReport(reports: readonly MeasuredRuns[]): string {
  const runs = reports.flatMap((r) => r.runs);
  const clients = [...new Set(runs.map((r) => r.client))];
  const first = reports[0];
  const lines: string[] = [];
  if (first !== undefined) {
    lines.push(
      `Measured with ${
        reports.map((r) => `\`${r.command}\``).join(", ")
      } on ${first.machine.cores} cores (${first.machine.cpu}), ${first.machine.memoryGiB} GiB; Deno ${first.versions.deno}, Kafka ${first.versions.kafka}, one broker. ${
        clients.map((c) => `${c}: ${runs.filter((r) => r.client === c).length} run(s)`).join(", ")
      }. Figures are medians of the runs with their spread (min–max).`,
      "",
    );
  }
  for (const client of clients) {
    const mine = runs.filter((r) => r.client === client);
    if (clients.length > 1) lines.push(`## ${client}`, "");
    lines.push(...clientReport(mine));
  }
  if (clients.length > 1) lines.push(...sideBySide(clients, runs));
  for (const r of reports) if (r.spark) lines.push(...formatSparkComparison(r.spark));
  return lines.join("\n");
}

/** Every run's result of one scenario. */
function byScenario(runs: readonly RunResult[]): Map<string, ScenarioResult[]> {
  const out = new Map<string, ScenarioResult[]>();
  for (const r of runs) {
    for (const s of r.scenarios) out.set(s.spec.name, [...(out.get(s.spec.name) ?? []), s]);
  }
  return out;
}

const ROLES: [string, (name: string) => boolean][] = [
  ["gateway", (n) => n === "gateway"],
  ["processing", (n) => n.startsWith("processing")],
  ["notification", (n) => n === "notification"],
  ["broker", (n) => n === "broker"],
  ["bench", (n) => n === "bench"],
];

function costCells(costs: readonly Costs[]): string[] {
  return ROLES.flatMap(([, match]) => {
    const list = costs.map((c) => sumCosts(c, match));
    return list.every((c) => c.cpuS === 0 && c.peakRssMiB === 0)
      ? ["—"]
      : [`${of(list.map((c) => c.cpuS), 2)} s, ${of(list.map((c) => c.peakRssMiB), 0)} MiB`];
  });
}

function clientReport(runs: readonly RunResult[]): string[] {
  // Long on purpose: the report's sections in the order they print, each a few lines of its own.
  const scenarios = byScenario(runs);
  const lines: string[] = [];
  for (const rows of [100, 1000]) {
    if (![...scenarios.keys()].some((k) => k.startsWith(`${rows}-`))) continue;
    lines.push(
      `### Dataset ${rows} rows: mean latency to finalizado (seed's figure in brackets)`,
      "",
      "| | 5 partitions | 1 partition |",
      "| --- | --- | --- |",
    );
    for (const load of ["constant", "spike"]) {
      const cell = (p: number) => {
        const name = `${rows}-${load}-${p}`;
        const list = scenarios.get(name) ?? [];
        return `${of(list.map((s) => s.latency.finalizado.mean), 1, "ms")} [${
          SEED_MEANS[name]
        } ms]`;
      };
      lines.push(
        `| ${load === "constant" ? "Carga (constant)" : "Pico (spike)"} | ${cell(5)} | ${
          cell(1)
        } |`,
      );
    }
    lines.push("");
  }
  if (scenarios.size > 0) {
    lines.push(
      "### Every scenario (latency to finalizado from the scheduled send, ms)",
      "",
      "| scenario | workers | finalized | mean | p50 | p99 | max | orders/s | POST p99 | notified p99 |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
      ...[...scenarios].map(([name, list]) => {
        const l = (f: (s: ScenarioResult) => number) => of(list.map(f));
        const dup = list.reduce((n, s) => n + s.duplicates, 0);
        return `| ${name} | ${list[0]!.spec.processingWorkers} | ${
          list.reduce((n, s) => n + s.finalized, 0)
        }/${list.reduce((n, s) => n + s.orders, 0)}${dup ? ` (${dup} dup)` : ""} | ${
          l((s) => s.latency.finalizado.mean)
        } | ${l((s) => s.latency.finalizado.p50)} | ${l((s) => s.latency.finalizado.p99)} | ${
          l((s) => s.latency.finalizado.max)
        } | ${of(list.map((s) => s.throughput), 0)} | ${l((s) => s.latency.post.p99)} | ${
          l((s) => s.latency.notified.p99)
        } |`;
      }),
      "",
      "### Where the time goes (median of the runs' p50 / p99 per hop, ms)",
      "",
      "| scenario | POST → 202 | 202 → recibido | recibido → finalizado | finalizado → notified |",
      "| --- | --- | --- | --- | --- |",
      ...[...scenarios].map(([name, list]) => {
        const hop = (k: keyof ScenarioResult["hops"]) =>
          `${spread(list.map((s) => s.hops[k].p50)).median.toFixed(1)} / ${
            spread(list.map((s) => s.hops[k].p99)).median.toFixed(1)
          }`;
        return `| ${name} | ${hop("post")} | ${hop("toRecibido")} | ${
          hop("recibidoToFinalizado")
        } | ${hop("finalizadoToNotified")} |`;
      }),
      "",
      "### Warm-up before each scenario (rounds of 1 s at 50 orders/s until the last three rounds' medians agree within 25 % or 3 ms)",
      "",
      "| scenario | rounds | seconds | medians of the rounds (last run), ms |",
      "| --- | --- | --- | --- |",
      ...[...scenarios].map(([name, list]) => {
        const w = list.map((s) => s.warmup).filter((x) => x !== undefined);
        const last = w.at(-1);
        return `| ${name} | ${of(w.map((x) => x.rounds), 0)} | ${of(w.map((x) => x.seconds))} | ${
          last
            ? last.p50s.map((v) => v.toFixed(0)).join(" → ") + (last.stable ? "" : " (not stable)")
            : "—"
        } |`;
      }),
      "",
      "### Cost while the scenario's orders were sent and settled: CPU seconds, peak RSS",
      "",
      "| scenario | gateway | processing (all) | notification | broker JVM | bench (load client, observer) |",
      "| --- | --- | --- | --- | --- | --- |",
      ...[...scenarios].map(([name, list]) =>
        `| ${name} | ${costCells(list.map((s) => s.cost)).join(" | ")} |`
      ),
      "",
    );
  }
  const capacity = runs.map((r) => r.capacity).filter((c) => c !== undefined);
  if (capacity.length > 0) {
    const rates = [...new Set(capacity.flatMap((c) => c.steps.map((s) => s.rate)))].sort((a, b) =>
      a - b
    );
    const c0 = capacity[0]!;
    lines.push(
      `### Capacity (${c0.partitions} partitions, ${c0.processingWorkers} processing worker(s), ${
        capacity[0]!.steps.length > 0 ? "steps of 5 s" : ""
      }, p99 bound ${c0.p99BoundMs} ms)`,
      "",
      `Highest rate held: ${of(capacity.map((c) => c.highestRateHeld), 0, "orders/s")}.`,
      "",
      "| offered orders/s | held in | p99 to finalizado, ms | finalized/s | gateway | processing | notification | broker JVM | bench |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
      ...rates.map((rate) => {
        const steps = capacity.flatMap((c) => c.steps.filter((s) => s.rate === rate));
        return `| ${rate} | ${steps.filter((s) => s.held).length}/${capacity.length} runs | ${
          of(steps.map((s) => s.p99), 0)
        } | ${of(steps.map((s) => s.throughput), 0)} | ${
          costCells(steps.map((s) => s.cost)).join(" | ")
        } |`;
      }),
      "",
    );
  }
  const intake = runs.map((r) => r.intake).filter((c) => c !== undefined);
  if (intake.length > 0) {
    lines.push(
      `### Gateway intake (${intake[0]!.concurrency} clients, acks=all, 5 partitions)`,
      "",
      `${of(intake.map((i) => i.acceptedPerSec), 0)} accepted POST/s; gateway CPU ${
        of(intake.map((i) => (1000 * (i.cost.gateway?.cpuS ?? NaN)) / i.accepted * 1000), 1)
      } ms per 1,000 accepted; broker CPU ${
        of(intake.map((i) => (1000 * (i.cost.broker?.cpuS ?? NaN)) / i.accepted * 1000), 1)
      } ms per 1,000; gateway peak RSS ${
        of(intake.map((i) => i.cost.gateway?.peakRssMiB ?? NaN), 0)
      } MiB.`,
      "",
    );
  }
  const purchases = runs.map((r) => r.purchases).filter((c) => c !== undefined);
  if (purchases.length > 0) {
    const p0 = purchases[0]!;
    lines.push(
      `### Purchase analytics (one worker, ${p0.partitions} partitions, ${p0.events} events published beforehand)`,
      "",
      "| events/s | events per worker CPU-s | events per CPU-s, worker + broker | worker CPU s | broker CPU s | worker peak RSS | publication → notification at 1,000/s, p50 / p99 |",
      "| --- | --- | --- | --- | --- | --- | --- |",
      `| ${of(purchases.map((p) => p.eventsPerSec), 0)} | ${
        of(purchases.map((p) => p.eventsPerCpuS), 0)
      } | ${of(purchases.map((p) => p.eventsPerSystemCpuS), 0)} | ${
        of(purchases.map((p) => p.cost["purchase-analytics"]?.cpuS ?? NaN), 2)
      } | ${of(purchases.map((p) => p.cost.broker?.cpuS ?? NaN), 2)} | ${
        of(purchases.map((p) => p.cost["purchase-analytics"]?.peakRssMiB ?? NaN), 0, "MiB")
      } | ${of(purchases.map((p) => p.latency.p50Ms), 0)} / ${
        of(purchases.map((p) => p.latency.p99Ms), 0)
      } ms |`,
      "",
    );
  }
  const failover = runs.map((r) => r.failover).filter((c) => c !== undefined);
  if (failover.length > 0) {
    lines.push(
      "### Failover (processing worker SIGKILLed, restarted with the same INSTANCE_ID)",
      "",
      `Restarted process ready after ${
        of(failover.map((f) => f.restartS), 1, "s")
      }; an order posted after the kill finalized ${
        of(failover.map((f) => f.finalizedS), 1, "s")
      } after it.`,
      "",
    );
  }
  lines.push(...targets(runs), "");
  return lines;
}

function verdict(name: string, s: Spread, bound: number, lower: boolean, unit: string): string {
  if (s.n === 0) return `- ${name}: not measured`;
  const ok = lower ? s.median <= bound : s.median >= bound;
  const by = lower ? s.median - bound : bound - s.median;
  return `- ${name}: ${fmtSpread(s, 1, unit)} (target ${lower ? "≤" : "≥"} ${bound} ${unit}) — ${
    ok ? "met" : `missed by ${by.toFixed(1)} ${unit}`
  }`;
}

function targets(runs: readonly RunResult[]): string[] {
  const scenarios = byScenario(runs);
  const lines = ["### Targets (one broker, dwell 0; medians of the runs)", ""];
  for (const [name, list] of scenarios) {
    if (name.includes("-constant-")) {
      lines.push(
        verdict(
          `${name}, mean to finalizado`,
          spread(list.map((s) => s.latency.finalizado.mean)),
          TARGETS.constantMeanMs,
          true,
          "ms",
        ),
        verdict(
          `${name}, p99 to finalizado`,
          spread(list.map((s) => s.latency.finalizado.p99)),
          TARGETS.constantP99Ms,
          true,
          "ms",
        ),
      );
    } else if (name.startsWith("1000-spike-")) {
      const unfinished = list.reduce((n, s) => n + (s.orders - s.finalized), 0);
      lines.push(
        `- ${name}: ${
          unfinished === 0
            ? "every order finalized in every run"
            : `${unfinished} orders unfinished`
        }`,
        verdict(
          `${name}, p99 to finalizado`,
          spread(list.map((s) => s.latency.finalizado.p99)),
          TARGETS.spikeP99Ms,
          true,
          "ms",
        ),
      );
    }
  }
  const capacity = runs.flatMap((r) => r.capacity ?? []);
  const intake = runs.flatMap((r) => r.intake ?? []);
  const purchases = runs.flatMap((r) => r.purchases ?? []);
  lines.push(
    verdict(
      "sustained end to end (highest offered rate with every order finalized, p99 ≤ 500 ms)",
      spread(capacity.map((c) => c.highestRateHeld)),
      TARGETS.sustainedOrdersPerSec,
      false,
      "orders/s",
    ),
    verdict(
      "purchase analytics, one worker",
      spread(purchases.map((p) => p.eventsPerSec)),
      TARGETS.purchasesEventsPerSec,
      false,
      "events/s",
    ),
    verdict(
      "purchase analytics, publication → notification p99 at 1,000 events/s",
      spread(purchases.map((p) => p.latency.p99Ms)),
      TARGETS.purchasesP99Ms,
      true,
      "ms",
    ),
    verdict(
      "gateway intake (acks=all; the first round's target)",
      spread(intake.map((i) => i.acceptedPerSec)),
      TARGETS.intakePerSec,
      false,
      "POST/s",
    ),
  );
  return lines;
}

/** The clients' key figures side by side. */
function sideBySide(clients: readonly KafkaClientName[], runs: readonly RunResult[]): string[] {
  const rows: [string, (r: RunResult) => number[], number, string][] = [];
  const names = [...byScenario(runs).keys()];
  for (const name of names) {
    const pick = (f: (s: ScenarioResult) => number) => (r: RunResult) =>
      r.scenarios.filter((s) => s.spec.name === name).map(f);
    rows.push([`${name}: mean to finalizado`, pick((s) => s.latency.finalizado.mean), 1, "ms"]);
    rows.push([`${name}: p99 to finalizado`, pick((s) => s.latency.finalizado.p99), 1, "ms"]);
  }
  rows.push(
    [
      "capacity: highest rate held",
      (r) => r.capacity ? [r.capacity.highestRateHeld] : [],
      0,
      "orders/s",
    ],
    ["gateway intake", (r) => r.intake ? [r.intake.acceptedPerSec] : [], 0, "POST/s"],
    [
      "gateway CPU per 1,000 accepted",
      (r) => r.intake ? [(r.intake.cost.gateway?.cpuS ?? NaN) / r.intake.accepted * 1e6] : [],
      1,
      "ms",
    ],
    ["purchase analytics", (r) => r.purchases ? [r.purchases.eventsPerSec] : [], 0, "events/s"],
    [
      "purchase analytics per worker CPU-second",
      (r) => r.purchases ? [r.purchases.eventsPerCpuS] : [],
      0,
      "events",
    ],
    [
      "purchase notification p99 at 1,000/s",
      (r) => r.purchases ? [r.purchases.latency.p99Ms] : [],
      0,
      "ms",
    ],
    [
      "failover: kill → order finalized",
      (r) => r.failover ? [r.failover.finalizedS] : [],
      1,
      "s",
    ],
  );
  return [
    "## Side by side",
    "",
    `| | ${clients.join(" | ")} |`,
    `| --- | ${clients.map(() => "---").join(" | ")} |`,
    ...rows.map(([label, get, digits, unit]) =>
      `| ${label} | ${
        clients.map((c) => of(runs.filter((r) => r.client === c).flatMap(get), digits, unit)).join(
          " | ",
        )
      } |`
    ),
    "",
  ];
}
