/**
 * One bench scenario: fresh topics, the system's processes, an observer, an open-loop load of a
 * dataset, then each order's latencies measured from its scheduled send time.
 */
import { ACCESS_ENV } from "../infra/test_access.ts";
import { topicEnv } from "../infra/testing.ts";
import { loadOrders } from "../datasets/load.ts";
import { generateOrders } from "../datasets/orders.ts";
import { loadConfig } from "../lib/config.ts";
import { createKafkaClient, type KafkaClientName } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import type { OrderInput } from "../lib/order.ts";
import { summarize, type Summary } from "../datasets/stats.ts";
import { waitFor } from "../lib/wait.ts";
import { freePort } from "../infra/kafka.ts";
import { CostMeter, type Costs, type Measured } from "./cost.ts";
import { type Observer, startObserver } from "./observer.ts";
import { type Proc, spawnTask } from "./procs.ts";

/**
 * The warm-up before each measurement: rounds of `seconds` at `rate` orders/s, unmeasured, until
 * the pipeline's latency is stable: the medians (to `finalizado`) of the last `window` rounds lie
 * within `tolerance` of their own median (or `floorMs`), every order of them finished; at least
 * `window` rounds, at most `maxRounds`.
 */
export const WARMUP = {
  rate: 50,
  seconds: 1,
  window: 3,
  maxRounds: 20,
  tolerance: 0.25,
  floorMs: 3,
};

/** What the warm-up did. */
export interface WarmUp {
  rounds: number;
  orders: number;
  seconds: number;
  /** Whether the last two rounds' medians agreed (false: `maxRounds` ran out). */
  stable: boolean;
  /** The median latency to `finalizado` of each round, ms. */
  p50s: number[];
}

/** What to run. */
export interface ScenarioSpec {
  name: string;
  dataset: string;
  orders: readonly OrderInput[];
  load: "constant" | "spike";
  /** Orders per second under constant load. */
  rate: number;
  partitions: number;
  processingWorkers: number;
  dwellMs: number;
  /** Longest wait for the last order after the last send. */
  settleMs: number;
}

/** One order's measurements, ms from its scheduled send (null: never seen). */
export interface OrderSample {
  scheduledMs: number;
  status: number;
  post: number;
  recibido: number | null;
  preparando: number | null;
  entregando: number | null;
  finalizado: number | null;
  notified: number | null;
}

/** A scenario's results. */
export interface ScenarioResult {
  spec: Omit<ScenarioSpec, "orders">;
  orders: number;
  accepted: number;
  finalized: number;
  /** Orders accepted but not finalized (with notification) in time. */
  unfinished: number;
  errors: number;
  duplicates: number;
  /** Finalized orders per second, from the first scheduled send to the last finalizado. */
  throughput: number;
  latency: { post: Summary; finalizado: Summary; notified: Summary };
  /** CPU seconds and peak RSS of each process while the orders were sent and settled. */
  cost: Costs;
  /** The warm-up that ran before the measured orders, when one did. */
  warmup?: WarmUp;
  /** Where the time goes: medians and p99 of each hop, ms. */
  hops: Record<
    "post" | "toRecibido" | "recibidoToFinalizado" | "finalizadoToNotified",
    { p50: number; p99: number }
  >;
  samples: OrderSample[];
}

/** Where the system runs: brokers, and either our own processes or an existing gateway. */
export interface Deployment {
  brokers: string;
  /** The Kafka client library of our processes and the observer. */
  client: KafkaClientName;
  /** A running gateway to load (`--target`); our own processes when absent. */
  target?: string;
  /** Write a CPU profile of every process started into this folder (`--profile`). */
  profileDir?: string;
  /** The broker's process (measured with the others), when the bench started it. */
  brokerPid?: number;
  /**
   * Where the systems' mail outboxes go (under `outbox/`, where the worker task may write), one
   * folder per system. The caller removes it once everything is measured: deleting thousands of
   * files slows creating files for minutes afterwards on some file systems (ext4 without journal
   * skips inodes deleted in the last minute), so it must not happen between measurements.
   * @default "outbox/bench"
   */
  outboxRoot?: string;
}

/** The system under test: where to send orders, where to watch them, how to stop it. */
export interface System {
  target: string;
  brokers: string;
  client: KafkaClientName;
  topics: { processing: string; notifications: string };
  /** Processes whose cost is measured: ours (started for this system) and the broker. */
  measured(): Measured[];
  /** Watches every order's states and notifications; started with the system. */
  observer: Observer;
  /** Our processes by name (`gateway`, `processing-0`, …; none for `--target`). */
  procs: Map<string, Proc>;
  /** Starts processing worker `index` (again, with the same instance id after a kill). */
  startProcessing(index: number): Promise<Proc>;
  stop(): Promise<void>;
}

/**
 * Starts the gateway, `processingWorkers` processing workers and (when `notification`) one
 * notification worker on fresh topics — or uses an existing deployment.
 */
export async function startSystem(
  spec: {
    name: string;
    partitions: number;
    processingWorkers: number;
    dwellMs: number;
    notification?: boolean;
  },
  deployment: Deployment,
): Promise<System> {
  const observe = async (topics: System["topics"]) => {
    const kafka = createKafkaClient(
      loadConfig({
        KAFKA_BROKERS: deployment.brokers,
        KAFKA_CLIENT: deployment.client,
        KAFKA_CLIENT_ID: "bench-observer",
      }),
      createLogger("observer", "error"),
    );
    const observer = await startObserver(kafka, topics);
    return {
      ...observer,
      async stop() {
        await observer.stop();
        await kafka.close();
      },
    };
  };
  // The broker, and this process: the load client and the observer share the same cores.
  const broker: Measured[] = [
    ...(deployment.brokerPid === undefined ? [] : [{ name: "broker", pid: deployment.brokerPid }]),
    { name: "bench", pid: Deno.pid },
  ];
  if (deployment.target !== undefined) {
    const topics = { processing: "order_processing", notifications: "order_notifications" };
    const observer = await observe(topics);
    return {
      target: deployment.target,
      brokers: deployment.brokers,
      client: deployment.client,
      topics,
      measured: () => broker,
      observer,
      procs: new Map(),
      startProcessing: () => Promise.reject(new Error("Cannot start a worker of --target")),
      stop: () => observer.stop(),
    };
  }
  const prefix = `bench-${spec.name}-${Date.now().toString(36)}`;
  const topics = { processing: `${prefix}-processing`, notifications: `${prefix}-notifications` };
  const port = String(await freePort());
  const outbox = `${deployment.outboxRoot ?? "outbox/bench"}/${prefix}`;
  const env = {
    KAFKA_BROKERS: deployment.brokers,
    KAFKA_CLIENT: deployment.client,
    // Topics, groups and order store of this scenario alone (never `deno task start`'s store).
    ...topicEnv(prefix),
    TOPIC_PARTITIONS: String(spec.partitions),
    ...ACCESS_ENV,
    STAGE_DWELL_MS: String(spec.dwellMs),
    PORT: port,
    OUTBOX_DIR: outbox,
    LOG_LEVEL: "info",
    // Every load comes from 127.0.0.1: per-client limits would measure themselves.
    ORDER_RATE_PER_S: "0",
    STREAMS_PER_CLIENT: "0",
  };
  const procs = new Map<string, Proc>();
  let observer: Observer | null = null;
  const stop = async () => {
    await Promise.all([...procs.values()].map((p) => p.stop()));
    await observer?.stop();
  };
  const profile = (name: string) =>
    deployment.profileDir === undefined
      ? {}
      : { profileDir: deployment.profileDir, profileName: `${spec.name}-${name}` };
  const startProcessing = async (i: number) => {
    const name = `processing-${i}`;
    const proc = await spawnTask(
      name,
      "worker",
      ["--role", "processing"],
      {
        ...env,
        INSTANCE_ID: `${prefix}-p${i}`,
      },
      /"processing orders"/,
      profile(name),
    );
    procs.set(name, proc);
    return proc;
  };
  try {
    // The gateway creates the topics; the workers start after it.
    procs.set(
      "gateway",
      await spawnTask("gateway", "gateway", [], env, /"listening"/, profile("gateway")),
    );
    await Promise.all([
      ...Array.from({ length: spec.processingWorkers }, (_, i) => startProcessing(i)),
      ...(spec.notification === false ? [] : [
        spawnTask(
          "notification",
          "worker",
          ["--role", "notification"],
          {
            ...env,
            INSTANCE_ID: `${prefix}-n`,
          },
          /"notifying customers"/,
          profile("notification"),
        ).then((p) => procs.set("notification", p)),
      ]),
    ]);
    const target = `http://127.0.0.1:${port}`;
    await waitReady(target);
    observer = await observe(topics);
    return {
      target,
      brokers: deployment.brokers,
      client: deployment.client,
      topics,
      measured: () => [
        ...[...procs].map(([name, p]) => ({ name, pid: p.child.pid, fresh: true })),
        ...broker,
      ],
      observer,
      procs,
      startProcessing,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Sends `orders` open loop to a running system and measures every order until it is finalized
 * and notified, or `settleMs` after the last send.
 */
export async function measureLoad(
  system: System,
  spec: ScenarioSpec,
): Promise<ScenarioResult> {
  const observer = system.observer;
  const meter = await CostMeter.start(system.measured());
  const t0 = Date.now();
  const results = await loadOrders({
    target: system.target,
    orders: spec.orders,
    rate: spec.load === "spike" ? "spike" : spec.rate,
    concurrency: 128,
  });
  const ids = results.filter((r) => r.id !== undefined).map((r) => r.id!);
  const deadline = Date.now() + spec.settleMs;
  while (Date.now() < deadline && ids.some((id) => !isComplete(observer.seen.get(id)))) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const cost = await meter.stop();
  const samples: OrderSample[] = results.map((r) => {
    const s = r.id === undefined ? undefined : observer.seen.get(r.id);
    const at = (t: number | undefined) => t === undefined ? null : t - (t0 + r.scheduledMs);
    return {
      scheduledMs: r.scheduledMs,
      status: r.status,
      post: r.latencyMs,
      recibido: at(s?.states.recibido),
      preparando: at(s?.states.preparando),
      entregando: at(s?.states.entregando),
      finalizado: at(s?.states.finalizado),
      notified: at(s?.notified.finalizado),
    };
  });
  const duplicates = ids.reduce((n, id) => n + (observer.seen.get(id)?.duplicates ?? 0), 0);
  return summarizeScenario(spec, samples, duplicates, cost);
}

/**
 * Warms a running system up (see {@linkcode WARMUP}): rounds of orders, unmeasured, until the
 * median latency to `finalizado` is stable.
 *
 * @param system The system.
 * @param spec The scenario it will run (partitions, workers and dwell, for the records).
 * @returns What the warm-up did.
 */
export async function warmUp(system: System, spec: ScenarioSpec): Promise<WarmUp> {
  const p50s: number[] = [];
  const started = performance.now();
  let orders = 0;
  let stable = false;
  const finished: boolean[] = [];
  for (let round = 1; round <= WARMUP.maxRounds; round++) {
    const count = Math.round(WARMUP.rate * WARMUP.seconds);
    const r = await measureLoad(system, {
      ...spec,
      name: `${spec.name}-warmup-${round}`,
      orders: generateOrders(count, 1000 + round),
      load: "constant",
      rate: WARMUP.rate,
      settleMs: 10_000,
    });
    orders += count;
    p50s.push(r.latency.finalizado.p50);
    finished.push(r.unfinished === 0 && r.errors === 0);
    if (round < WARMUP.window || !finished.slice(-WARMUP.window).every(Boolean)) continue;
    const last = p50s.slice(-WARMUP.window).sort((x, y) => x - y);
    const middle = last[Math.floor(last.length / 2)]!;
    if (last.at(-1)! - last[0]! <= Math.max(WARMUP.floorMs, WARMUP.tolerance * middle)) {
      stable = true;
      break;
    }
  }
  return {
    rounds: p50s.length,
    orders,
    seconds: (performance.now() - started) / 1000,
    stable,
    p50s,
  };
}

/**
 * Runs one scenario on its own fresh system.
 *
 * @param spec The scenario.
 * @param deployment Brokers, and an optional existing gateway.
 * @param say Progress lines.
 */
export async function runScenario(
  spec: ScenarioSpec,
  deployment: Deployment,
  say: (line: string) => void,
): Promise<ScenarioResult> {
  const system = await startSystem(spec, deployment);
  try {
    // A freshly started system (JIT, connections, first transactions) is not what a scenario of
    // 100 orders over 2 s should measure: warm it until its latency is stable.
    const warmup = await warmUp(system, spec);
    say(
      `    warm-up: ${warmup.rounds} rounds of ${WARMUP.rate}/s (${warmup.orders} orders, ${
        warmup.seconds.toFixed(1)
      } s), median ${warmup.p50s.map((v) => v.toFixed(0)).join(" → ")} ms${
        warmup.stable ? "" : " (not stable)"
      }`,
    );
    say(
      `    ${spec.orders.length} orders, ${
        spec.load === "spike" ? "one spike" : `${spec.rate}/s`
      }, ${spec.partitions} partition(s), ${spec.processingWorkers} processing worker(s)`,
    );
    return { ...await measureLoad(system, spec), warmup };
  } finally {
    await system.stop();
  }
}

function isComplete(
  s: { states: { finalizado?: number }; notified: { finalizado?: number } } | undefined,
): boolean {
  return s?.states.finalizado !== undefined && s.notified.finalizado !== undefined;
}

/** Summarizes samples into a scenario result. */
export function summarizeScenario(
  spec: ScenarioSpec,
  samples: OrderSample[],
  duplicates: number,
  cost: Costs = {},
): ScenarioResult {
  const accepted = samples.filter((s) => s.status === 202);
  const done = accepted.filter((s) => s.finalizado !== null && s.notified !== null);
  const values = (f: (s: OrderSample) => number | null) =>
    done.map(f).filter((v): v is number => v !== null);
  const hop = (f: (s: OrderSample) => number) => {
    const sum = summarize(done.map(f));
    return { p50: sum.p50, p99: sum.p99 };
  };
  const first = Math.min(...samples.map((s) => s.scheduledMs));
  const lastDone = Math.max(...done.map((s) => s.scheduledMs + s.finalizado!));
  const { orders: _orders, ...rest } = spec;
  return {
    spec: rest,
    orders: samples.length,
    accepted: accepted.length,
    finalized: done.length,
    unfinished: accepted.length - done.length,
    errors: samples.length - accepted.length,
    duplicates,
    throughput: done.length === 0 ? 0 : (done.length * 1000) / Math.max(1, lastDone - first),
    latency: {
      post: summarize(accepted.map((s) => s.post)),
      finalizado: summarize(values((s) => s.finalizado)),
      notified: summarize(values((s) => s.notified)),
    },
    cost,
    hops: {
      post: hop((s) => s.post),
      toRecibido: hop((s) => s.recibido! - s.post),
      recibidoToFinalizado: hop((s) => s.finalizado! - s.recibido!),
      finalizadoToNotified: hop((s) => s.notified! - s.finalizado!),
    },
    samples,
  };
}

async function waitReady(target: string): Promise<void> {
  // Its read side may still be catching up with the topics: on a slow machine, minutes.
  await waitFor(`the gateway at ${target} to be ready`, async () => {
    const ok = await fetch(`${target}/readyz`).then((r) => (r.body?.cancel(), r.ok), () => false);
    return ok ? { ready: true, value: undefined } : { ready: false, why: "/readyz not 200 yet" };
  }, {
    timeoutMs: loadConfig({}).STARTUP_TIMEOUT_MS,
    intervalMs: 100,
    progressMs: 10_000,
    say: (line) => console.error(line),
  });
}
