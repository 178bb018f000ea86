/**
 * `deno task purchases`: generates purchase events and writes them as NDJSON (`--out`),
 * publishes them to Kafka (`--publish`), or POSTs them to the gateway (`--target`), at a rate
 * (the report sent one every 2 s: `--rate 0.5`) or as one spike, with progress and a summary.
 *
 *   deno task purchases --count 2000 --spike --out purchases.ndjson
 *   deno task purchases --count 100 --rate 0.5 --publish --brokers 127.0.0.1:9092
 *   deno task purchases --count 5000 --spike --target http://127.0.0.1:8080
 *
 * `POST /purchases` needs a credential (a shop's backend, or staff): `--token-file` names a file
 * holding a bearer token, by default `.cache/staff-token`, the one `deno task start` makes.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { loadConfig } from "../lib/config.ts";
import { createKafkaClient } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import { progress } from "./progress.ts";
import { openLoopSchedule } from "./stats.ts";
import { generatePurchases, readWords } from "./purchases.ts";

const USAGE =
  "usage: gen_purchases.ts --count N [--seed S] [--rate R | --spike] (--out FILE | --publish [--brokers LIST] [--topic T] | --target URL)";
function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  Deno.exit(2);
}

let a;
try {
  a = parseArgs({
    args: Deno.args,
    options: {
      count: { type: "string", default: "100" },
      seed: { type: "string", default: "2024" },
      rate: { type: "string", default: "0.5" },
      spike: { type: "boolean", default: false },
      out: { type: "string" },
      publish: { type: "boolean", default: false },
      brokers: { type: "string", default: "127.0.0.1:9092" },
      topic: { type: "string", default: "purchase_events" },
      target: { type: "string" },
      "token-file": { type: "string", default: ".cache/staff-token" },
    },
  }).values;
} catch (error) {
  fail((error as Error).message);
}
const count = Number(a.count);
const seed = Number(a.seed);
const rate = a.spike ? "spike" as const : Number(a.rate);
if (!Number.isInteger(count) || count < 1) {
  fail(`Cannot generate: --count must be a whole number >= 1: current value is "${a.count}"`);
}
if (!Number.isInteger(seed)) {
  fail(`Cannot generate: --seed must be a whole number: current value is "${a.seed}"`);
}
if (rate !== "spike" && !(rate > 0)) {
  fail(`Cannot generate: --rate must be above 0: current value is "${a.rate}"`);
}
const sinks = [a.out !== undefined, a.publish, a.target !== undefined].filter(Boolean).length;
if (sinks !== 1) fail("Cannot generate: give exactly one of --out, --publish, --target");

const intervalMs = rate === "spike" ? 1 : 1000 / rate;
const events = generatePurchases(await readWords(), {
  count,
  seed,
  startMs: Date.now(),
  intervalMs,
});
if (a.out !== undefined) {
  try {
    await Deno.writeTextFile(a.out, events.map((e) => JSON.stringify(e)).join("\n") + "\n");
  } catch (error) {
    console.error(`Cannot write ${a.out}: ${(error as Error).message}`);
    Deno.exit(1);
  }
  console.error(`wrote ${count} events (seed ${seed}) to ${a.out}`);
  Deno.exit(0);
}

const bar = progress("events", count, (t) => process.stderr.write(t), Deno.stderr.isTerminal());
const schedule = openLoopSchedule(count, rate);
const started = performance.now();
let sent = 0;
let failed = 0;
const chunk = rate === "spike" ? 500 : 1;
let send: (batch: typeof events) => Promise<void>;
let close = () => Promise.resolve();
if (a.publish) {
  const kafka = createKafkaClient(
    loadConfig({
      KAFKA_BROKERS: a.brokers,
      KAFKA_CLIENT_ID: "despacho-generator",
      KAFKA_CLIENT: Deno.env.get("KAFKA_CLIENT"),
    }),
    createLogger("generator", "warn"),
  );
  const producer = kafka.producer();
  await producer.connect();
  const topic = a.topic;
  send = async (batch) => {
    await producer.send(batch.map((e) => ({ topic, key: e.id, value: JSON.stringify(e) })));
  };
  close = async () => {
    await producer.close();
    await kafka.close();
  };
} else {
  let token: string;
  try {
    token = Deno.readTextFileSync(a["token-file"]).trim();
  } catch (error) {
    fail(
      `Cannot post to the gateway: --token-file cannot be read (${
        (error as Error).name
      }): current value is "${a["token-file"]}"`,
    );
  }
  send = async (batch) => {
    const res = await fetch(`${a.target}/purchases`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson", authorization: `Bearer ${token}` },
      body: batch.map((e) => JSON.stringify(e)).join("\n"),
    });
    await res.body?.cancel();
    if (res.status !== 202) throw new Error(`gateway answered ${res.status}`);
  };
}
for (let i = 0; i < count; i += chunk) {
  const wait = started + schedule[i]! - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const batch = events.slice(i, i + chunk);
  try {
    await send(batch);
    sent += batch.length;
  } catch (error) {
    failed += batch.length;
    if (failed === batch.length) console.error(`\nsend failed: ${(error as Error).message}`);
  }
  bar.update(sent + failed, failed > 0 ? `${failed} failed` : "");
}
await close();
bar.done();
const seconds = (performance.now() - started) / 1000;
console.log(
  `sent ${sent} of ${count} events in ${seconds.toFixed(2)} s (${
    (sent / seconds).toFixed(0)
  }/s), ${failed} failed`,
);
Deno.exit(failed === 0 ? 0 : 1);
