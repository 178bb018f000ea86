/**
 * What a measurement costs: CPU seconds and peak resident memory of each process of the system
 * (gateway, each worker, the broker's JVM) over a stretch of time, read from Linux /proc.
 *
 * CPU is the difference of each process's user + system time between the start and the end of
 * the stretch. Peak memory is the largest resident set sampled meanwhile (every `intervalMs`); for
 * a process started for this measurement it is its lifetime peak (`VmHWM`), which no sampling can
 * miss.
 */
import { procStats } from "../infra/process.ts";

/** A process to measure. */
export interface Measured {
  name: string;
  pid: number;
  /** Started for this measurement: its lifetime peak RSS is this measurement's. @default false */
  fresh?: boolean;
}

/** One process's cost over the stretch. */
export interface ProcessCost {
  cpuS: number;
  peakRssMiB: number;
}

/** Costs by process name. */
export type Costs = Record<string, ProcessCost>;

/** A running measurement; see the module doc. */
export class CostMeter {
  #procs: Measured[];
  #start = new Map<number, number>();
  #peak = new Map<number, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #sampling: Promise<void> = Promise.resolve();

  private constructor(procs: readonly Measured[]) {
    this.#procs = [...procs];
  }

  /**
   * Starts measuring.
   *
   * @param procs The processes.
   * @param intervalMs Time between two memory samples. @default 250
   */
  static async start(procs: readonly Measured[], intervalMs = 250): Promise<CostMeter> {
    const meter = new CostMeter(procs);
    const first = await procStats(procs.map((p) => p.pid));
    for (const [pid, s] of first) {
      meter.#start.set(pid, s.cpuS);
      meter.#peak.set(pid, s.rssMiB);
    }
    meter.#timer = setInterval(() => {
      meter.#sampling = meter.#sampling.then(() => meter.#sample());
    }, intervalMs);
    return meter;
  }

  async #sample(): Promise<void> {
    const now = await procStats(this.#procs.map((p) => p.pid));
    for (const [pid, s] of now) {
      if (s.rssMiB > (this.#peak.get(pid) ?? 0)) this.#peak.set(pid, s.rssMiB);
    }
  }

  /**
   * Ends the measurement.
   *
   * @returns Each process's CPU seconds over the stretch and its peak RSS.
   */
  async stop(): Promise<Costs> {
    clearInterval(this.#timer);
    await this.#sampling;
    const end = await procStats(this.#procs.map((p) => p.pid));
    const costs: Costs = {};
    for (const p of this.#procs) {
      const s = end.get(p.pid)!;
      const sampled = Math.max(this.#peak.get(p.pid) ?? 0, s.rssMiB || 0);
      costs[p.name] = {
        cpuS: s.cpuS - (this.#start.get(p.pid) ?? NaN),
        peakRssMiB: p.fresh ? Math.max(sampled, s.peakRssMiB || 0) : sampled,
      };
    }
    return costs;
  }
}

/**
 * Sums the costs of processes whose names match (e.g. every processing worker).
 *
 * @param costs Costs by process.
 * @param match Which processes.
 * @returns Their CPU seconds added, and the largest of their peaks.
 */
export function sumCosts(costs: Costs, match: (name: string) => boolean): ProcessCost {
  const list = Object.entries(costs).filter(([n]) => match(n)).map(([, c]) => c);
  return {
    cpuS: list.reduce((n, c) => n + c.cpuS, 0),
    peakRssMiB: list.reduce((n, c) => Math.max(n, c.peakRssMiB), 0),
  };
}
