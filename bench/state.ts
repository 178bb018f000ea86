/**
 * `deno task bench:state`: what the gateway's order store costs as history grows. For each size
 * (`--orders 10000,100000`, cumulative: the topic is filled up to each size in turn) on one broker
 * with its data on disk and no mail, the status topic is filled directly (four steps per order, as
 * processing writes them), then the gateway (its deno.json task, a separate process) is started:
 *
 * - a fresh instance (empty store): time to `/readyz` 200 and the rebuild rate (records/s);
 * - then `--runs` restarts on that store: restart-to-ready time (process start to `/readyz` 200),
 *   RSS once ready, and `GET /orders/{id}` p99 for the oldest and the newest order.
 *
 * Medians over the runs. Prints a Markdown table and writes `bench/results/state-<time>.json`.
 *
 *   deno task bench:state [--orders 10000,100000] [--runs 3]
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../lib/config.ts";
import { createKafkaClient, orderTopics, type OutRecord } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import { ORDER_STATES, type OrderTransition } from "../lib/order.ts";
import { stepRecord } from "../lib/order_status.ts";
import { type Proc, procStat } from "../infra/process.ts";
import { waitFor } from "../lib/wait.ts";
import { startKafka } from "../infra/kafka.ts";
import { ACCESS_ENV } from "../infra/test_access.ts";
import { spawnTask } from "./procs.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const say = (line: string) => console.error(`[bench:state] ${line}`);

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    orders: { type: "string", default: "10000,100000" },
    runs: { type: "string", default: "3" },
    gets: { type: "string", default: "1000" },
  },
});
const sizes = args.orders.split(",").map(Number).sort((a, b) => a - b);
const runs = Number(args.runs);
const gets = Number(args.gets);
if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !(runs >= 1) || !(gets >= 1)) {
  console.error(
    "Cannot run the state bench: --orders must be whole numbers >= 1, --runs and --gets >= 1",
  );
  Deno.exit(2);
}

const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const work = `.cache/bench-state/${stamp}`;
await Deno.mkdir(`${ROOT}${work}`, { recursive: true });
const broker = await startKafka({ port: 0, dataDir: `${ROOT}${work}/kafka`, say });
const env = {
  ...ACCESS_ENV,
  KAFKA_BROKERS: broker.brokers,
  TOPIC_PARTITIONS: "5",
  PORT: "0",
  LOG_LEVEL: "info",
  ORDER_RATE_PER_S: "0",
  GROUP_ID_PREFIX: `bench-state-${stamp}`,
};
const config = loadConfig(env);
const log = createLogger("bench:state", "warn");
const kafka = createKafkaClient(config, log);

const idOf = (i: number) => `bench-${String(i).padStart(8, "0")}`;
const order = { name: "Pedido de prueba", price: 9990, email: "bench@example.cl" };

/** Writes orders `from` to `to - 1` to the status topic: four steps each. */
async function fill(from: number, to: number): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  const at = new Date().toISOString();
  let batch: OutRecord[] = [];
  for (let i = from; i < to; i++) {
    for (let s = 0; s < ORDER_STATES.length; s++) {
      const t: OrderTransition = {
        v: 1,
        type: "OrderTransition",
        id: idOf(i),
        order,
        state: ORDER_STATES[s]!,
        seq: s + 1,
        at,
        requestedAt: at,
        next: null,
      };
      batch.push(stepRecord(config.TOPIC_ORDER_STATUS, t, null));
    }
    if (batch.length >= 20_000) {
      await producer.send(batch);
      batch = [];
      say(`filled ${i + 1 - from} of ${to - from} orders`);
    }
  }
  if (batch.length > 0) await producer.send(batch);
  await producer.close();
}

/** Starts the gateway on `store`; resolves at `/readyz` 200 with the time it took. */
async function startGateway(store: string): Promise<{ proc: Proc; url: string; readyMs: number }> {
  const started = performance.now();
  const proc = await spawnTask("gateway", "gateway", [], {
    ...env,
    ORDER_STORE_PATH: store,
  }, /"listening"/);
  const url = /"url":"(http:[^"]+)"/.exec(proc.tail())?.[1];
  if (url === undefined) throw new Error("Cannot find the gateway's address in its log");
  // Polled every 10 ms (the figure is this wait), with progress and the start-up ceiling: a
  // rebuild of a long history takes a minute, and a gateway that cannot reach Kafka never ends.
  await waitFor(`the gateway at ${url} to be ready`, async () => {
    if (proc.ended() !== null) {
      return { ready: false, fatal: new Error(`Gateway ended:\n${proc.tail()}`) };
    }
    const res = await fetch(`${url}/readyz`).catch(() => null);
    await res?.body?.cancel();
    return res?.status === 200
      ? { ready: true, value: undefined }
      : { ready: false, why: res === null ? "not answering" : `/readyz ${res.status}` };
  }, {
    timeoutMs: loadConfig({}).STARTUP_TIMEOUT_MS,
    intervalMs: 10,
    progressMs: 10_000,
    say,
  });
  return { proc, url, readyMs: performance.now() - started };
}

/** p99 of `GET /orders/{id}` over `gets` sequential requests, in ms. */
async function p99(url: string, id: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < gets; i++) {
    const t = performance.now();
    const res = await fetch(`${url}/orders/${id}`);
    await res.arrayBuffer();
    times.push(performance.now() - t);
    if (res.status !== 200) throw new Error(`Cannot read order ${id}: status ${res.status}`);
  }
  times.sort((a, b) => a - b);
  return times[Math.min(times.length - 1, Math.ceil(times.length * 0.99) - 1)]!;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
};

const results: Record<string, unknown>[] = [];
try {
  await kafka.ensureTopics(orderTopics(config), { timeoutMs: config.STARTUP_TIMEOUT_MS, say });
  let filled = 0;
  for (const size of sizes) {
    await fill(filled, size);
    filled = size;
    const store = `${work}/store-${size}.sqlite`;
    const fresh = await startGateway(store);
    const caught = fresh.proc.tail().split("\n").reverse()
      .find((l) => l.includes("order store caught up"));
    const rebuild = caught === undefined ? null : JSON.parse(caught) as {
      records: number;
      recordsPerS: number;
      ms: number;
    };
    await fresh.proc.stop();
    const restarts: { readyMs: number; rssMiB: number; oldestP99: number; newestP99: number }[] =
      [];
    for (let r = 0; r < runs; r++) {
      const g = await startGateway(store);
      const rssMiB = (await procStat(g.proc.child.pid)).rssMiB;
      const oldestP99 = await p99(g.url, idOf(0));
      const newestP99 = await p99(g.url, idOf(size - 1));
      restarts.push({ readyMs: g.readyMs, rssMiB, oldestP99, newestP99 });
      await g.proc.stop();
    }
    const row = {
      orders: size,
      records: size * ORDER_STATES.length,
      freshReadyMs: Math.round(fresh.readyMs),
      rebuildRecordsPerS: rebuild?.recordsPerS ?? null,
      restartReadyMs: Math.round(median(restarts.map((x) => x.readyMs))),
      rssMiB: Math.round(median(restarts.map((x) => x.rssMiB))),
      oldestP99Ms: Number(median(restarts.map((x) => x.oldestP99)).toFixed(2)),
      newestP99Ms: Number(median(restarts.map((x) => x.newestP99)).toFixed(2)),
      runs: restarts,
    };
    say(JSON.stringify(row));
    results.push(row);
  }
} finally {
  await kafka.close().catch(() => {});
  await broker.remove().catch(() => broker.stop());
}

console.log(
  "| orders | fresh instance ready (s) | rebuild (records/s) | restart to ready (s) | RSS (MiB) | GET p99 oldest (ms) | GET p99 newest (ms) |",
);
console.log("|---:|---:|---:|---:|---:|---:|---:|");
for (const r of results) {
  console.log(
    `| ${r.orders} | ${(Number(r.freshReadyMs) / 1000).toFixed(2)} | ${r.rebuildRecordsPerS} | ${
      (Number(r.restartReadyMs) / 1000).toFixed(2)
    } | ${r.rssMiB} | ${r.oldestP99Ms} | ${r.newestP99Ms} |`,
  );
}
await Deno.mkdir(`${ROOT}bench/results`, { recursive: true });
const out = `${ROOT}bench/results/state-${stamp}.json`;
await Deno.writeTextFile(out, JSON.stringify({ sizes, runs, gets, results }, null, 2));
await Deno.remove(`${ROOT}${work}`, { recursive: true }).catch(() => {});
say(`wrote ${out}`);
