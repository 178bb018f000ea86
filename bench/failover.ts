/**
 * Failover: how long a killed processing worker's partitions stay unprocessed. A warmed-up system
 * with one processing worker on 5 partitions; the worker is SIGKILLed and started again at once
 * with the same `INSTANCE_ID`, and one order is posted right after the kill. Measured: kill →
 * the restarted process ready, and kill → that order's `finalizado`.
 *
 * With static membership (platformatic) the restarted member takes its partitions back as soon as
 * it joins; without it (kafkajs) the group waits for the dead member's session to expire
 * (`KAFKA_SESSION_TIMEOUT_MS`, 30 s by default) before it assigns them again.
 */
import { generateOrders } from "../datasets/orders.ts";
import { loadOrders } from "../datasets/load.ts";
import { type Deployment, startSystem, warmUp } from "./scenario.ts";

/** What {@linkcode measureFailover} found, in seconds. */
export interface Failover {
  /** From the kill to the new process saying it is ready (it has joined its group). */
  restartS: number;
  /** From the kill to the `finalizado` of an order posted right after it (NaN: not in time). */
  finalizedS: number;
}

/**
 * Measures one failover.
 *
 * @param options Dwell of the processing worker; longest wait for the order. @default 120 s
 */
export async function measureFailover(
  options: { dwellMs: number; timeoutMs?: number },
  deployment: Deployment,
  say: (line: string) => void,
): Promise<Failover> {
  const system = await startSystem({
    name: "failover",
    partitions: 5,
    processingWorkers: 1,
    dwellMs: options.dwellMs,
  }, deployment);
  try {
    await warmUp(system, {
      name: "failover",
      dataset: "generated",
      orders: [],
      load: "constant",
      rate: 50,
      partitions: 5,
      processingWorkers: 1,
      dwellMs: options.dwellMs,
      settleMs: 10_000,
    });
    say("failover: SIGKILL of the processing worker, started again with the same INSTANCE_ID");
    const killed = performance.now();
    await system.procs.get("processing-0")!.kill();
    const restarted = system.startProcessing(0).then(() => performance.now());
    const [sent] = await loadOrders({
      target: system.target,
      orders: generateOrders(1, 4242),
      rate: "spike",
    });
    if (sent?.id === undefined) {
      throw new Error(`Cannot measure failover: the order was refused (${sent?.status})`);
    }
    const deadline = performance.now() + (options.timeoutMs ?? 120_000);
    let finalizedS = NaN;
    while (performance.now() < deadline) {
      if (system.observer.seen.get(sent.id)?.states.finalizado !== undefined) {
        finalizedS = (performance.now() - killed) / 1000;
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const restartS = ((await restarted) - killed) / 1000;
    say(
      `    restarted in ${restartS.toFixed(1)} s; the order posted after the kill finalized ${
        finalizedS.toFixed(1)
      } s after it`,
    );
    return { restartS, finalizedS };
  } finally {
    await system.stop();
  }
}
