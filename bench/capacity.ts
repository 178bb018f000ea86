/**
 * Capacity: the arrival rate ramped in steps on one running system until p99 to `finalizado`
 * passes a bound (or orders fail), and the gateway's intake ceiling (accepted POSTs per second,
 * acks=all, closed loop).
 */
import { generateOrders } from "../datasets/orders.ts";
import type { KafkaClientName } from "../lib/kafka/mod.ts";
import { measureLoad, startSystem } from "./scenario.ts";

/** Options of {@linkcode capacityRamp}. */
export interface CapacityOptions {
  brokers: string;
  client: KafkaClientName;
  dwellMs: number;
  /** p99 to finalizado a step must stay under, ms. @default 500 */
  p99BoundMs?: number;
  /** Rates tried, orders/s. @default [250, 500, 1000, 2000, 3000, 4000] */
  steps?: number[];
  /** Seconds per step. @default 4 */
  stepSeconds?: number;
  partitions?: number;
  processingWorkers?: number;
  /** Write CPU profiles of the processes into this folder. */
  profileDir?: string;
}

/** Ramps the rate; reports each step and the highest rate that held the bound. */
export async function capacityRamp(options: CapacityOptions, say: (line: string) => void) {
  const bound = options.p99BoundMs ?? 500;
  const seconds = options.stepSeconds ?? 4;
  const partitions = options.partitions ?? 5;
  const workers = options.processingWorkers ?? 1;
  const system = await startSystem({
    name: "capacity",
    partitions,
    processingWorkers: workers,
    dwellMs: options.dwellMs,
  }, {
    brokers: options.brokers,
    client: options.client,
    ...(options.profileDir ? { profileDir: options.profileDir } : {}),
  });
  const steps: {
    rate: number;
    finalized: number;
    orders: number;
    p99: number;
    mean: number;
    throughput: number;
    held: boolean;
  }[] = [];
  try {
    for (const rate of options.steps ?? [250, 500, 1000, 2000, 3000, 4000]) {
      const orders = generateOrders(rate * seconds, rate);
      say(
        `capacity: ${rate} orders/s for ${seconds} s (${partitions} partitions, ${workers} processing worker(s))`,
      );
      const r = await measureLoad(system, {
        name: `capacity-${rate}`,
        dataset: "generated",
        orders,
        load: "constant",
        rate,
        partitions,
        processingWorkers: workers,
        dwellMs: options.dwellMs,
        settleMs: 15_000,
      });
      const held = r.finalized === r.orders && r.latency.finalizado.p99 <= bound;
      steps.push({
        rate,
        finalized: r.finalized,
        orders: r.orders,
        p99: r.latency.finalizado.p99,
        mean: r.latency.finalizado.mean,
        throughput: r.throughput,
        held,
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
    steps,
    sustainedOrdersPerSec: best?.throughput ?? 0,
    highestRateHeld: best?.rate ?? 0,
  };
}

/**
 * Accepted POSTs per second: `concurrency` clients each POSTing as fast as answers come, for
 * `seconds`. The client runs on the same 2 cores as the gateway and the broker.
 */
export async function intakeCeiling(
  options: {
    brokers: string;
    client: KafkaClientName;
    seconds?: number;
    concurrency?: number;
    profileDir?: string;
  },
  say: (line: string) => void,
) {
  const seconds = options.seconds ?? 5;
  const concurrency = options.concurrency ?? 64;
  const system = await startSystem({
    name: "intake",
    partitions: 5,
    processingWorkers: 0,
    dwellMs: 0,
    notification: false,
  }, {
    brokers: options.brokers,
    client: options.client,
    ...(options.profileDir ? { profileDir: options.profileDir } : {}),
  });
  try {
    say(`intake: ${concurrency} clients POSTing for ${seconds} s`);
    const body = JSON.stringify({ name: "Intake", price: 1000, email: "intake@despacho.example" });
    let accepted = 0;
    let refused = 0;
    const end = performance.now() + seconds * 1000;
    const started = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const res = await fetch(`${system.target}/orders`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
        }).catch(() => null);
        await res?.body?.cancel();
        if (res?.status === 202) accepted++;
        else refused++;
      }
    }));
    const elapsed = (performance.now() - started) / 1000;
    const result = {
      seconds: elapsed,
      concurrency,
      accepted,
      refused,
      acceptedPerSec: accepted / elapsed,
    };
    say(`    ${accepted} accepted (${result.acceptedPerSec.toFixed(0)}/s), ${refused} refused`);
    return result;
  } finally {
    await system.stop();
  }
}
