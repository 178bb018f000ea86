/**
 * Capacity: the arrival rate ramped in steps on one running, warmed-up system until p99 to
 * `finalizado` passes a bound (or orders fail), and the gateway's intake ceiling (accepted POSTs
 * per second, acks=all, closed loop). Each step and the intake run say what they cost
 * (`bench/cost.ts`).
 */
import { generateOrders } from "../datasets/orders.ts";
import { postOrdersUntil } from "./closed_loop.ts";
import { CostMeter, type Costs } from "./cost.ts";
import {
  type Deployment,
  measureLoad,
  startSystem,
  WARMUP,
  type WarmUp,
  warmUp,
} from "./scenario.ts";

/** Options of {@linkcode capacityRamp}. */
export interface CapacityOptions {
  dwellMs: number;
  /** p99 to finalizado a step must stay under, ms. @default 500 */
  p99BoundMs?: number;
  /** Rates tried, orders/s. @default {@linkcode CAPACITY_STEPS} */
  steps?: number[];
  /** Seconds per step. @default 5 */
  stepSeconds?: number;
  /** @default 5 */
  partitions?: number;
  /** @default 1 */
  processingWorkers?: number;
}

/** The rates the ramp tries by default, orders/s. */
export const CAPACITY_STEPS = [500, 1000, 1500, 2000, 2500, 3000, 3500, 4000];

/** One step of the ramp. */
export interface CapacityStep {
  rate: number;
  finalized: number;
  orders: number;
  p99: number;
  mean: number;
  throughput: number;
  held: boolean;
  cost: Costs;
}

/** What {@linkcode capacityRamp} found. */
export interface Capacity {
  p99BoundMs: number;
  partitions: number;
  processingWorkers: number;
  warmup: WarmUp;
  steps: CapacityStep[];
  /** Orders finalized per second in the highest step that held the bound (0: none held). */
  sustainedOrdersPerSec: number;
  highestRateHeld: number;
}

/** Ramps the rate; reports each step and the highest rate that held the bound. */
export async function capacityRamp(
  options: CapacityOptions,
  deployment: Deployment,
  say: (line: string) => void,
): Promise<Capacity> {
  const bound = options.p99BoundMs ?? 500;
  const seconds = options.stepSeconds ?? 5;
  const partitions = options.partitions ?? 5;
  const workers = options.processingWorkers ?? 1;
  const system = await startSystem({
    name: "capacity",
    partitions,
    processingWorkers: workers,
    dwellMs: options.dwellMs,
  }, deployment);
  const steps: CapacityStep[] = [];
  const spec = (rate: number) => ({
    name: `capacity-${rate}`,
    dataset: "generated",
    orders: generateOrders(rate * seconds, rate),
    load: "constant" as const,
    rate,
    partitions,
    processingWorkers: workers,
    dwellMs: options.dwellMs,
    settleMs: 15_000,
  });
  let warmup: WarmUp;
  try {
    // warmUp sends its own orders at its own rate; the spec gives the rest.
    warmup = await warmUp(system, spec(WARMUP.rate));
    say(
      `capacity: warm-up of ${warmup.rounds} rounds (${warmup.orders} orders), median ${
        warmup.p50s.map((v) => v.toFixed(0)).join(" → ")
      } ms`,
    );
    for (const rate of options.steps ?? CAPACITY_STEPS) {
      say(
        `capacity: ${rate} orders/s for ${seconds} s (${partitions} partitions, ${workers} processing worker(s))`,
      );
      const r = await measureLoad(system, spec(rate));
      const held = r.finalized === r.orders && r.latency.finalizado.p99 <= bound;
      steps.push({
        rate,
        finalized: r.finalized,
        orders: r.orders,
        p99: r.latency.finalizado.p99,
        mean: r.latency.finalizado.mean,
        throughput: r.throughput,
        held,
        cost: r.cost,
      });
      say(
        `    finalized ${r.finalized}/${r.orders}, p99 ${r.latency.finalizado.p99.toFixed(1)} ms, ${
          r.throughput.toFixed(0)
        } orders/s — ${held ? "held" : "bound passed"}`,
      );
      if (!held) break;
    }
  } finally {
    await system.stop();
  }
  const best = steps.filter((s) => s.held).at(-1);
  return {
    p99BoundMs: bound,
    partitions,
    processingWorkers: workers,
    warmup,
    steps,
    sustainedOrdersPerSec: best?.throughput ?? 0,
    highestRateHeld: best?.rate ?? 0,
  };
}

/** What {@linkcode intakeCeiling} found. */
export interface Intake {
  seconds: number;
  concurrency: number;
  accepted: number;
  refused: number;
  acceptedPerSec: number;
  /** CPU and memory of the gateway and the broker while it ran (no worker runs). */
  cost: Costs;
}

/**
 * Accepted POSTs per second: `concurrency` clients each POSTing as fast as answers come, for
 * `seconds`, after a one-second warm-up of the same. The client runs on the same 2 cores as the
 * gateway and the broker.
 */
export async function intakeCeiling(
  options: { seconds?: number; concurrency?: number },
  deployment: Deployment,
  say: (line: string) => void,
): Promise<Intake> {
  const seconds = options.seconds ?? 5;
  const concurrency = options.concurrency ?? 64;
  const system = await startSystem({
    name: "intake",
    partitions: 5,
    processingWorkers: 0,
    dwellMs: 0,
    notification: false,
  }, deployment);
  try {
    await postOrdersUntil(system.target, concurrency, performance.now() + 1000);
    say(`intake: ${concurrency} clients POSTing for ${seconds} s`);
    const meter = await CostMeter.start(system.measured());
    const started = performance.now();
    const { accepted, refused } = await postOrdersUntil(
      system.target,
      concurrency,
      started + seconds * 1000,
    );
    const elapsed = (performance.now() - started) / 1000;
    const cost = await meter.stop();
    const result = {
      seconds: elapsed,
      concurrency,
      accepted,
      refused,
      acceptedPerSec: accepted / elapsed,
      cost,
    };
    say(`    ${accepted} accepted (${result.acceptedPerSec.toFixed(0)}/s), ${refused} refused`);
    return result;
  } finally {
    await system.stop();
  }
}
