/**
 * `deno task load`: POSTs a dataset to a running gateway, open loop, with a progress bar and a
 * summary; exits 1 when any order was not accepted.
 *
 *   deno task load --file datasets/orders-1000.csv --rate 50
 *   deno task load --file datasets/orders-100.csv --spike --target http://127.0.0.1:8080
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { progress } from "./progress.ts";
import { loadOrders, summarizeLoad } from "./load.ts";
import { readOrdersCsv } from "./orders.ts";

const USAGE =
  "usage: load_orders.ts --file FILE.csv [--rate N | --spike] [--target URL] [--concurrency N]";

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  Deno.exit(2);
}

let args;
try {
  args = parseArgs({
    args: Deno.args,
    options: {
      file: { type: "string", default: "datasets/orders-100.csv" },
      rate: { type: "string", default: "50" },
      spike: { type: "boolean", default: false },
      target: { type: "string", default: "http://127.0.0.1:8080" },
      concurrency: { type: "string", default: "256" },
    },
  }).values;
} catch (error) {
  fail((error as Error).message);
}
const rate = args.spike ? "spike" as const : Number(args.rate);
const concurrency = Number(args.concurrency);
if (rate !== "spike" && !(rate > 0)) {
  fail(`Cannot load: --rate must be a number above 0: current value is "${args.rate}"`);
}
if (!Number.isInteger(concurrency) || concurrency < 1) {
  fail(
    `Cannot load: --concurrency must be a whole number >= 1: current value is "${args.concurrency}"`,
  );
}
let orders;
try {
  orders = readOrdersCsv(await Deno.readTextFile(args.file));
} catch (error) {
  fail(
    error instanceof Deno.errors.NotFound
      ? `Cannot load: no file ${args.file}`
      : (error as Error).message,
  );
}

console.error(
  `loading ${orders.length} orders from ${args.file} to ${args.target} (${
    rate === "spike" ? "spike" : `${rate}/s`
  })`,
);
const bar = progress(
  "orders",
  orders.length,
  (t) => process.stderr.write(t),
  Deno.stderr.isTerminal(),
);
const started = performance.now();
const results = await loadOrders({
  target: args.target,
  orders,
  rate,
  concurrency,
  onProgress: (done, failed) => bar.update(done, failed > 0 ? `${failed} failed` : ""),
});
const summary = summarizeLoad(results, performance.now() - started);
bar.done();
const ms = (v: number) => `${v.toFixed(1)} ms`;
console.log(
  [
    `sent ${summary.sent}: ${summary.accepted} accepted (202), ${summary.clientErrors} 4xx, ${summary.serverErrors} 5xx, ${summary.networkErrors} network errors`,
    `wall time ${(summary.wallMs / 1000).toFixed(2)} s, ${
      summary.achievedRate.toFixed(1)
    } orders/s`,
    `POST latency from schedule: p50 ${ms(summary.latencyMs.p50)}, p95 ${
      ms(summary.latencyMs.p95)
    }, p99 ${ms(summary.latencyMs.p99)}, max ${ms(summary.latencyMs.max)}`,
    ...results.filter((r) => r.status !== 202).slice(0, 5).map((r) =>
      `  row ${r.index + 1}: ${r.status || "network"} ${r.error ?? ""}`
    ),
  ].join("\n"),
);
Deno.exit(summary.accepted === summary.sent ? 0 : 1);
