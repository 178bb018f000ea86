/**
 * `deno task soak [--minutes 60] [--fault-every-minutes 10] [--rate 20] [--purchase-rate 20]
 * [--spike-every-minutes 2.5] [--memory-data] [--out bench/results]`: the whole system for a long
 * while, under faults, watched. `deno task soak --figures <report.json>` only draws a kept
 * report's figures again, beside it.
 *
 * On a local three-node KRaft cluster (replication factor 3, `min.insync.replicas` 2, data on disk
 * in a temporary folder; `/dev/shm` with `--memory-data`), the gateway, processing, notification and
 * purchase-analytics run as their tasks run them ({@linkcode FaultSystem}), mailing to a real SMTP
 * server in this process. Orders are POSTed open loop at `--rate` a second, with a spike of five
 * times that rate for 10 s every `--spike-every-minutes`; purchase events are published at
 * `--purchase-rate` a second. Every `--fault-every-minutes` one fault, alternating: a worker
 * SIGKILLed and started again (processing, notification, purchase-analytics in turn), then a broker
 * killed with SIGKILL and started again 10 s later (each node in turn).
 *
 * Every 10 s it samples the RSS, CPU and open file descriptors of every process (brokers
 * included), each consumer group's lag (through the Kafka seam), and prints a line. At the end it
 * counts what reached Kafka and the SMTP server (the fault suite's census), writes
 * `<out>/soak-<time>/report.json` and an SVG per series, and exits 1 naming every failed check:
 * memory that keeps growing after warm-up ({@linkcode GROWTH}), lag not settled within
 * {@linkcode LAG_RECOVERY_S} s of a faulted process running again, or anything lost or twice.
 */
import { parseArgs } from "node:util";
import { generatePurchases, readWords } from "../datasets/purchases.ts";
import { type RunningKafka, startKafka } from "../infra/kafka.ts";
import { procStats } from "../infra/process.ts";
import { startSmtp } from "../infra/smtp.ts";
import { loadConfig } from "../lib/config.ts";
import { createKafkaClient, KAFKA_CLIENTS, type KafkaClientName } from "../lib/kafka/mod.ts";
import { lagOf } from "../lib/kafka/observe.ts";
import { createLogger } from "../lib/log.ts";
import { summarize } from "../datasets/stats.ts";
import {
  FaultSystem,
  liveOutcomes,
  orderOfMail,
  purchaseMailCensus,
  type Role,
  sendOrders,
  type Sent,
  stopOnSignal,
} from "./fault_harness.ts";
import {
  analyticsChecks,
  type Check,
  check,
  LOAD_SEND_RETRY_MS,
  mailedPurchases,
  orderVerdict,
  publishPurchases,
  purchaseMailChecks,
} from "./fault_scenarios.ts";
import { startObserver } from "./observer.ts";
import { lagRecovery, memoryGrowth, type Point } from "./soak_verdict.ts";
import {
  memoryRangeLines,
  type ProcFigures,
  type Sample,
  soakFigures,
  type Window,
  windowLatencyLines,
} from "./soak_figures.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const say = (line: string) => console.error(`[soak] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Seconds between two samples. */
const SAMPLE_S = 10;
/**
 * When memory keeps growing (see docs/testing.md, "Soak"): after a warm-up of a fifth of the run (from the
 * start, or from a restart for a restarted process), at least 6 samples (a minute), a fitted slope
 * above 2 MiB/min AND a fitted growth above 10 % of the fitted start over the judged span.
 */
const GROWTH = { warmupFraction: 0.2, minSamples: 6, maxSlopeMiBPerMin: 2, maxGrowthFraction: 0.1 };
/**
 * Lag (records, per consumer group) that counts as settled: what two seconds of the steady load put
 * into the topics (five records per order, its request and four transitions; one per purchase
 * event), plus one record per partition of the 16 a group may read (a transactional topic's last
 * commit marker is never committed past). Under a steady load some records are always in flight: a
 * minute of orders at 20/s showed notification at 70 to 100 between faults, so "zero" cannot be
 * literal. 256 at the default rates.
 */
const lagSettled = (rate: number, purchaseRate: number) => 2 * (5 * rate + purchaseRate) + 16;
/** Longest time from a faulted process running again to every group's lag settled, s. */
const LAG_RECOVERY_S = 60;
/** How long a killed broker stays down, ms. */
const BROKER_DOWN_MS = 10_000;

const args = parseArgs({
  args: Deno.args,
  options: {
    minutes: { type: "string", default: "60" },
    "fault-every-minutes": { type: "string", default: "10" },
    "spike-every-minutes": { type: "string", default: "2.5" },
    rate: { type: "string", default: "20" },
    "purchase-rate": { type: "string", default: "20" },
    "memory-data": { type: "boolean", default: false },
    figures: { type: "string" },
    client: { type: "string", default: loadConfig({}).KAFKA_CLIENT },
    out: { type: "string", default: `${ROOT}bench/results` },
  },
}).values;
if (args.figures !== undefined) {
  // Draws a kept report's figures again, beside it; runs nothing.
  const report = JSON.parse(await Deno.readTextFile(args.figures));
  const dir = args.figures.replace(/\/[^/]*$/, "") || ".";
  const figures = soakFigures(
    report.samples,
    report.windows,
    marksOf(report.faults, report.spikes),
  );
  for (const [file, svg] of Object.entries(figures)) {
    await Deno.writeTextFile(`${dir}/${file}`, svg);
  }
  say(`figures of ${args.figures} in ${dir}`);
  for (const line of windowLatencyLines(report.windows)) say(line);
  const warmupS = report.options.minutes * 60 * report.thresholds.growth.warmupFraction;
  for (const line of memoryRangeLines(report.samples, warmupS)) say(line);
  Deno.exit(0);
}
const number = (name: keyof typeof args): number => {
  const v = Number(args[name]);
  if (!(v > 0)) {
    console.error(
      `Cannot run the soak: --${name} must be a positive number: current value is "${args[name]}"`,
    );
    Deno.exit(2);
  }
  return v;
};
const minutes = number("minutes");
const faultEveryS = number("fault-every-minutes") * 60;
const spikeEveryS = number("spike-every-minutes") * 60;
const rate = number("rate");
const purchaseRate = number("purchase-rate");
if (!(KAFKA_CLIENTS as readonly string[]).includes(args.client)) {
  console.error(
    `Cannot run the soak: --client must be one of ${
      KAFKA_CLIENTS.join(", ")
    }: current value is "${args.client}"`,
  );
  Deno.exit(2);
}
const client = args.client as KafkaClientName;
const durationS = minutes * 60;
const LAG_SETTLED = lagSettled(rate, purchaseRate);

interface Fault {
  kind: "worker" | "broker";
  target: string;
  at: number;
  resumedAt: number | null;
  error?: string;
}

const started = new Date();
const stamp = started.toISOString().replace(/[:.]/g, "-");
const dataDir = await Deno.makeTempDir({ prefix: "despacho-soak-" });
say(
  `${minutes} min, a fault every ${faultEveryS / 60} min, ${rate} orders/s (spike of ${
    rate * 5
  }/s for 10 s every ${
    spikeEveryS / 60
  } min), ${purchaseRate} purchase events/s; lag settled at or under ${LAG_SETTLED} per group; data ${
    args["memory-data"] ? "on /dev/shm" : `on disk (${dataDir})`
  }`,
);
const cluster: RunningKafka = await startKafka({
  nodes: 3,
  port: 0,
  dataDir,
  memoryData: args["memory-data"],
  say,
});
// Ctrl-C or a SIGTERM mid-run stops what the soak started and exits 130 without a report.
stopOnSignal(say, () => cluster.remove());
const smtp = await startSmtp();
const system = new FaultSystem("soak", cluster.brokers, client, {
  TOPIC_REPLICATION_FACTOR: "3",
  SMTP_URL: smtp.url,
  ANALYTICS_IDLE_MS: "60000",
}, say);
const kafka = createKafkaClient(
  loadConfig({
    KAFKA_BROKERS: cluster.brokers,
    KAFKA_CLIENT: client,
    KAFKA_CLIENT_ID: "soak",
    // The one-hour run at 7e3a4aa lost its report when this producer gave up after the default
    // 5 s during broker-2's kill (fenced only after broker.session.timeout.ms).
    KAFKA_ACK_TIMEOUT_MS: String(LOAD_SEND_RETRY_MS),
  }),
  createLogger("soak", "error"),
);
const producer = kafka.producer();
const env = system.env;
const prefix = env.GROUP_ID_PREFIX!;
/** Each group's input topics, as workers/main.ts reports their lag. */
const GROUPS: Record<Role, string[]> = {
  processing: [
    env.TOPIC_ORDER_REQUESTS!,
    env.TOPIC_ORDER_PROCESSING!,
    env.TOPIC_ORDER_ERASURES!,
  ],
  notification: [
    env.TOPIC_ORDER_PROCESSING!,
    env.TOPIC_MAIL_RETRIES!,
    env.TOPIC_PURCHASE_NOTIFICATIONS!,
    env.TOPIC_PURCHASE_MAIL_RETRIES!,
  ],
  "purchase-analytics": [env.TOPIC_PURCHASES!],
};
const ROLES = Object.keys(GROUPS) as Role[];

let exitCode = 1;
try {
  await system.gateway();
  for (const role of ROLES) await system.worker(role);
  await producer.connect();
  const observer = await startObserver(kafka, {
    processing: env.TOPIC_ORDER_PROCESSING!,
    notifications: env.TOPIC_ORDER_NOTIFICATIONS!,
  });
  const live = liveOutcomes(system);
  const inFlightAtKills = new Set<string>();

  const t0 = performance.now();
  const wall0 = Date.now();
  const now = () => (performance.now() - t0) / 1000;
  const events = generatePurchases(await readWords(), {
    count: Math.round(purchaseRate * durationS),
    seed: 41,
    startMs: wall0,
    intervalMs: 1000 / purchaseRate,
  });
  const publishing = publishPurchases(kafka, producer, env.TOPIC_PURCHASES!, events, purchaseRate);

  /** Every answered POST with when it was due (ms since the epoch). */
  const sent: (Sent & { dueWall: number })[] = [];
  const loads: Promise<void>[] = [];
  const load = (tag: string, ordersPerS: number) => {
    const at = Date.now();
    loads.push(
      sendOrders({
        urls: () => [...system.urls.values()],
        rate: ordersPerS,
        durationMs: 10_000,
        tag,
      })
        .then((rs) => {
          for (const r of rs) sent.push({ ...r, dueWall: at + (r.scheduledMs ?? 0) });
        }),
    );
  };

  const samples: Sample[] = [];
  const faults: Fault[] = [];
  const spikes: number[] = [];
  const lastCpu = new Map<string, { pid: number; cpuS: number; t: number }>();

  const readLag = async (): Promise<Record<string, number | null>> => {
    const entries = await Promise.all(ROLES.map(async (role) => {
      try {
        const reading = (async () => {
          let total = 0;
          for (const topic of GROUPS[role]) {
            const [ends, committed] = await Promise.all([
              kafka.endOffsets(topic),
              kafka.groupOffsets(`${prefix}-${role}`, topic),
            ]);
            total += lagOf(ends, committed).reduce((n, p) => n + p.lag, 0);
          }
          return total;
        })();
        // A broker away can hold a reading for its request timeout: the sample goes without it.
        const late = sleep(8_000).then(() => null);
        return [role, await Promise.race([reading, late])] as const;
      } catch {
        return [role, null] as const;
      }
    }));
    return Object.fromEntries(entries);
  };

  const sample = async (): Promise<Sample> => {
    const t = now();
    const named = [
      ...[...system.procs].map(([name, p]) => ({
        name,
        pid: p.ended() === null ? p.child.pid : null,
      })),
      ...cluster.nodes.map((n) => ({ name: `broker-${n.id}`, pid: n.pid() })),
      { name: "soak", pid: Deno.pid },
    ];
    const [stats, lag] = await Promise.all([
      procStats(named.flatMap((n) => n.pid === null ? [] : [n.pid])),
      readLag(),
    ]);
    const procs: Record<string, ProcFigures> = {};
    for (const { name, pid } of named) {
      const s = pid === null ? undefined : stats.get(pid);
      const before = lastCpu.get(name);
      const cpuPct = s !== undefined && before?.pid === pid && t > before.t
        ? ((s.cpuS - before.cpuS) / (t - before.t)) * 100
        : NaN;
      if (s !== undefined && pid !== null) lastCpu.set(name, { pid, cpuS: s.cpuS, t });
      procs[name] = {
        pid,
        rssMiB: s?.rssMiB ?? NaN,
        cpuPct,
        fds: s?.fds ?? NaN,
      };
    }
    // An hour of raw mails would be a GiB in this process: the census needs only Message-IDs.
    for (const m of smtp.mails) m.raw = "";
    return { t, procs, lag };
  };

  let faultRunning: Promise<void> | null = null;
  const inject = async (index: number) => {
    const fault: Fault = index % 2 === 0
      ? { kind: "worker", target: ROLES[(index / 2) % ROLES.length]!, at: now(), resumedAt: null }
      : {
        kind: "broker",
        target: `broker-${cluster.nodes[((index - 1) / 2) % cluster.nodes.length]!.id}`,
        at: now(),
        resumedAt: null,
      };
    faults.push(fault);
    try {
      if (fault.kind === "worker") {
        const role = fault.target as Role;
        say(`fault ${index + 1}: SIGKILL ${role}-0, starting it again`);
        await system.procs.get(`${role}-0`)!.kill();
        if (role === "notification") {
          // Accepted by the SMTP server, outcome not yet committed: may be mailed again.
          for (const m of smtp.mails) {
            if (m.messageId !== null && !live.visible.has(m.messageId)) {
              inFlightAtKills.add(m.messageId);
            }
          }
        }
        await system.worker(role);
      } else {
        const node = cluster.nodes.find((n) => `broker-${n.id}` === fault.target)!;
        say(
          `fault ${index + 1}: kill -9 ${fault.target}, starting it again in ${
            BROKER_DOWN_MS / 1000
          } s`,
        );
        await node.kill("SIGKILL");
        await sleep(BROKER_DOWN_MS);
        await node.start();
      }
      fault.resumedAt = now();
      say(
        `fault ${index + 1}: ${fault.target} running again after ${
          (fault.resumedAt - fault.at).toFixed(1)
        } s`,
      );
    } catch (error) {
      fault.error = (error as Error).message.slice(0, 300);
      say(`fault ${index + 1}: cannot restart ${fault.target}: ${fault.error}`);
    }
  };

  const progress = (s: Sample, phase: string) => {
    const answered = sent.length;
    const accepted = sent.filter((r) => r.status === 202).length;
    const finalized = [...observer.seen.values()].filter((v) => v.states.finalizado).length;
    const windowStart = wall0 + (s.t - SAMPLE_S) * 1000;
    const e2e = sent.flatMap((r) => {
      const fin = r.id === undefined ? undefined : observer.seen.get(r.id)?.states.finalizado;
      return fin !== undefined && fin >= windowStart ? [fin - r.dueWall] : [];
    });
    const post = sent.filter((r) => r.dueWall >= windowStart - SAMPLE_S * 1000)
      .map((r) => r.latencyMs ?? NaN);
    const short = (n: string) => n.replace("purchase-analytics", "analytics").replace(/-0$/, "");
    say(
      `${phase} ${clock(s.t)}/${
        clock(durationS)
      }: ${answered} POSTs answered (${accepted} accepted), ${finalized} finalized; lag ${
        Object.entries(s.lag).map(([g, l]) => `${short(g)} ${l ?? "?"}`).join(", ")
      }; POST p99 ${ms(summarize(post).p99)}, e2e p99 ${ms(summarize(e2e).p99)}; RSS MiB ${
        Object.entries(s.procs).map(([n, p]) =>
          `${short(n)} ${Number.isFinite(p.rssMiB) ? p.rssMiB.toFixed(0) : "-"}`
        )
          .join(" ")
      }`,
    );
  };

  // The run: a tick every 10 s starts that 10 s of orders, a spike or a fault when due, and a
  // sample. Loads and faults run beside the ticks, so a slow POST or restart never delays them.
  let nextFault = 0;
  let nextSpike = 0;
  for (let tick = 0; tick * SAMPLE_S < durationS; tick++) {
    const wait = t0 + tick * SAMPLE_S * 1000 - performance.now();
    if (wait > 0) await sleep(wait);
    load(`s${tick}-`, rate);
    if (now() >= (nextSpike + 0.5) * spikeEveryS) {
      spikes.push(now());
      say(`spike ${nextSpike + 1}: ${rate * 5} orders/s for 10 s`);
      load(`k${nextSpike}-`, rate * 4); // beside the steady load: five times its rate in all
      nextSpike++;
    }
    if (now() >= (nextFault + 1) * faultEveryS && faultRunning === null) {
      const index = nextFault++;
      faultRunning = inject(index).finally(() => faultRunning = null);
    }
    const s = await sample();
    samples.push(s);
    progress(s, "load ");
  }
  // Drain: the last loads and the fault in progress finish, then samples continue until every
  // fault's lag check is decided and the lag has settled (at most three minutes).
  const loadEnd = now();
  // A load generator that failed (its producer gave up during a broker kill) is a failed check of
  // the run, not the end of it: the hour's samples are still judged and written.
  const generators = await Promise.allSettled([...loads, publishing, faultRunning]);
  const generatorFailures = generators.flatMap((g) =>
    g.status === "rejected" ? [(g.reason as Error)?.message ?? String(g.reason)] : []
  );
  for (const reason of generatorFailures) say(`a load generator failed: ${reason}`);
  for (;;) {
    const wait = t0 + samples.length * SAMPLE_S * 1000 - performance.now();
    if (wait > 0) await sleep(wait);
    const s = await sample();
    samples.push(s);
    progress(s, "drain");
    const undecided = faults.some((f) =>
      f.resumedAt !== null && !lagRecovery(samples, f.resumedAt, LAG_SETTLED, LAG_RECOVERY_S).ok &&
      s.t - f.resumedAt <= LAG_RECOVERY_S
    );
    const settled = Object.values(s.lag).every((l) => l !== null && l <= LAG_SETTLED);
    if ((settled && !undecided) || now() - loadEnd > 180) break;
  }
  await live.stop();
  await observer.stop();

  // Verdicts.
  say(
    `census of ${
      sent.filter((r) => r.id !== undefined).length
    } accepted orders and ${events.length} purchase events`,
  );
  const orders = await orderVerdict("soak", system, smtp, sent, {
    timeoutMs: 300_000,
    allowedStatuses: [202, 429, 503],
  });
  const checks: Check[] = [...orders.checks];
  checks.push(check(
    "every load generator ran to the end",
    generatorFailures.length === 0,
    generatorFailures.length === 0
      ? "orders, spikes, purchases, faults"
      : generatorFailures.join("; "),
  ));
  const again = [...Map.groupBy(
    smtp.mails.filter((m) => orderOfMail(m.messageId) !== undefined),
    (m) => m.messageId!,
  )].filter(([, l]) => l.length > 1).map(([id]) => id);
  const beyond = again.filter((id) => !inFlightAtKills.has(id));
  checks.push(check(
    "order mails sent again only those in flight at a kill",
    beyond.length === 0,
    `${again.length} sent again, ${inFlightAtKills.size} in flight at notification kills${
      beyond.length ? `; ${beyond.length} others` : ""
    }`,
  ));
  const purchases = mailedPurchases(events);
  const purchaseMails = await purchaseMailCensus(system, smtp, purchases, new Set(), 300_000);
  checks.push(...purchaseMailChecks(purchaseMails, purchases.length, inFlightAtKills));
  checks.push(
    ...await analyticsChecks(
      { brokers: cluster.brokers, cluster, client, quick: false, say },
      system,
      events,
    ),
  );

  const memory = memoryVerdicts(samples, durationS);
  for (const m of memory) {
    if (!m.verdict.judged) continue;
    checks.push(check(
      `memory of ${m.name} (pid ${m.pid}) flat after warm-up`,
      !m.verdict.growing,
      `${m.verdict.slopeMiBPerMin.toFixed(2)} MiB/min over ${m.verdict.samples} samples, ${
        (m.verdict.growthFraction * 100).toFixed(1)
      } % growth (limits ${GROWTH.maxSlopeMiBPerMin} MiB/min and ${
        GROWTH.maxGrowthFraction * 100
      } %)`,
    ));
  }
  const recoveries = faults.map((f) => ({
    ...f,
    recovery: f.resumedAt === null
      ? null
      : lagRecovery(samples, f.resumedAt, LAG_SETTLED, LAG_RECOVERY_S),
  }));
  for (const [i, f] of recoveries.entries()) {
    checks.push(check(
      `fault ${i + 1} (${f.kind} ${f.target}): restarted, lag settled within ${LAG_RECOVERY_S} s`,
      f.recovery?.ok === true,
      f.recovery === null
        ? `not restarted: ${f.error}`
        : f.recovery.recoveredAfterS === null
        ? `lag never at or under ${LAG_SETTLED} per group after it was running again`
        : `down ${(f.resumedAt! - f.at).toFixed(1)} s; lag at or under ${LAG_SETTLED} per group ${
          f.recovery.recoveredAfterS.toFixed(0)
        } s after`,
    ));
  }
  if (faults.length === 0) {
    checks.push(
      check("at least one fault", false, `no fault in ${minutes} min: lower --fault-every-minutes`),
    );
  }

  const windows = latencyWindows(sent, observer.seen, wall0, samples.at(-1)!.t);
  const dir = `${args.out}/soak-${stamp}`;
  await Deno.mkdir(dir, { recursive: true });
  const marks = marksOf(faults, spikes);
  for (const [file, svg] of Object.entries(soakFigures(samples, windows, marks))) {
    await Deno.writeTextFile(`${dir}/${file}`, svg);
  }
  const ok = checks.every((c) => c.ok);
  const report = {
    started,
    ok,
    options: {
      minutes,
      faultEveryMinutes: faultEveryS / 60,
      spikeEveryMinutes: spikeEveryS / 60,
      rate,
      purchaseRate,
      client,
      data: args["memory-data"] ? "/dev/shm" : "disk",
    },
    thresholds: {
      growth: GROWTH,
      lagSettledRecords: LAG_SETTLED,
      lagRecoveryS: LAG_RECOVERY_S,
      brokerDownMs: BROKER_DOWN_MS,
      sampleS: SAMPLE_S,
    },
    machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
    orders: {
      sent: orders.sent,
      acknowledged: orders.acknowledged,
      finalized: orders.finalized,
      lost: orders.lost,
      duplicated: orders.duplicated,
      statuses: Object.fromEntries(
        Object.entries(Object.groupBy(sent, (r) => String(r.status))).map((
          [k, v],
        ) => [k, v!.length]),
      ),
      longestGapWithoutFinalizedMs: orders.recoveryMs,
      mailsSentAgain: orders.extra.mailsSentAgain,
    },
    purchases: {
      events: events.length,
      mailed: purchases.length,
      delivered: purchaseMails.delivered,
      lost: purchaseMails.lost.length,
      duplicatedOutcomes: purchaseMails.duplicatedOutcomes,
      outcomesTwice: purchaseMails.outcomesTwice.slice(0, 20),
    },
    faults: recoveries,
    spikes,
    memory,
    checks,
    windows,
    samples,
  };
  await Deno.writeTextFile(`${dir}/report.json`, JSON.stringify(report, null, 1));
  for (const c of checks) say(`${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}`);
  for (const line of windowLatencyLines(windows)) say(line);
  for (const line of memoryRangeLines(samples, durationS * GROWTH.warmupFraction)) say(line);
  say(`report and figures in ${dir}`);
  if (!ok) {
    say(`FAILED: ${checks.filter((c) => !c.ok).map((c) => c.name).join("; ")}`);
  }
  exitCode = ok ? 0 : 1;
} catch (error) {
  say(`Cannot finish the soak: ${(error as Error).message}`);
} finally {
  await producer.close().catch(() => {});
  await system.stop();
  await kafka.close().catch(() => {});
  await smtp.close();
  await cluster.remove();
}
Deno.exit(exitCode);

/** The figures' marks: each fault (`F1 processing`) and each spike, at when it began. */
function marksOf(faults: readonly { at: number; target: string }[], spikes: readonly number[]) {
  return [
    ...faults.map((f, i) => ({ x: f.at, label: `F${i + 1} ${f.target}` })),
    ...spikes.map((x) => ({ x, label: "spike" })),
  ];
}

/** `m:ss`. */
function clock(s: number): string {
  return `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
}

/** `12 ms`, or `-` when there is nothing to show. */
function ms(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(0)} ms` : "-";
}

/** The memory verdict of each process life (name and pid), the soak process itself left out. */
function memoryVerdicts(samples: readonly Sample[], durationS: number) {
  const lives = new Map<string, { name: string; pid: number; points: Point[] }>();
  for (const s of samples) {
    for (const [name, p] of Object.entries(s.procs)) {
      // This process keeps every answer and mail for the census: its growth is the harness's.
      if (name === "soak" || p.pid === null) continue;
      const key = `${name}/${p.pid}`;
      if (!lives.has(key)) lives.set(key, { name, pid: p.pid, points: [] });
      lives.get(key)!.points.push({ t: s.t, v: p.rssMiB });
    }
  }
  return [...lives.values()].map((life) => {
    const born = life.points[0]!.t;
    // The first life counts from the run's start, a restarted one from its first sample.
    const from = born <= SAMPLE_S ? 0 : born;
    return {
      name: life.name,
      pid: life.pid,
      fromS: from,
      lastRssMiB: life.points.findLast((p) => Number.isFinite(p.v))?.v ?? null,
      verdict: memoryGrowth(life.points.map((p) => ({ t: p.t - from, v: p.v })), {
        warmupS: GROWTH.warmupFraction * durationS,
        minSamples: GROWTH.minSamples,
        maxSlopeMiBPerMin: GROWTH.maxSlopeMiBPerMin,
        maxGrowthFraction: GROWTH.maxGrowthFraction,
      }),
    };
  });
}

/** POST and POST → finalizado latency percentiles of the orders due in each 10 s window. */
function latencyWindows(
  sent: readonly (Sent & { dueWall: number })[],
  seen: ReadonlyMap<string, { states: { finalizado?: number } }>,
  wall0: number,
  endS: number,
): Window[] {
  const windows: Window[] = [];
  for (let t = 0; t < endS; t += SAMPLE_S) {
    const due = sent.filter((r) =>
      r.dueWall >= wall0 + t * 1000 && r.dueWall < wall0 + (t + SAMPLE_S) * 1000
    );
    if (due.length === 0) continue;
    const post = summarize(due.map((r) => r.latencyMs ?? NaN));
    const e2e = summarize(due.flatMap((r) => {
      const fin = r.id === undefined ? undefined : seen.get(r.id)?.states.finalizado;
      return fin === undefined ? [] : [fin - r.dueWall];
    }));
    const round = (v: number) => Number.isFinite(v) ? Math.round(v) : null;
    windows.push({
      t,
      orders: due.length,
      accepted: due.filter((r) => r.status === 202).length,
      postMs: {
        p50: round(post.p50),
        p95: round(post.p95),
        p99: round(post.p99),
        max: round(post.max),
      },
      endToEndMs: {
        finalized: e2e.count,
        p50: round(e2e.p50),
        p95: round(e2e.p95),
        p99: round(e2e.p99),
        max: round(e2e.max),
      },
    });
  }
  return windows;
}
