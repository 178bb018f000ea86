/**
 * `deno task faults [--quick] [--only a,b] [--client platformatic|kafkajs] [--brokers LIST] [--secure] [--kill controller|leader]`:
 * the fault suite. On a local three-node KRaft cluster (replication factor 3,
 * `min.insync.replicas=2`), with the real roles and a real SMTP server, each scenario injects one
 * fault under load and checks that nothing acknowledged is lost and nothing is done twice:
 *
 * - `broker-kill`: kill -9 of the active KRaft controller (`--kill leader`: of the node leading the
 *   most order partitions), restarted later;
 * - `worker-kills`: SIGKILL of processing, notification and purchase-analytics, each restarted;
 * - `rebalance`: instances of each role join and leave mid-stream, partitions move away and back;
 * - `smtp-outage`: the SMTP server answers 451 for 5 minutes (20 s with `--quick`), plus a 550,
 *   to order and purchase mail;
 * - `overload`: about five times the rate the system sustains;
 * - `graceful-stop`: SIGTERM to a gateway at 500 requests/s and to a processing worker;
 * - `duplicates`: the same Idempotency-Key after a 503 and on a second gateway.
 *
 * `--secure`: the cluster listens `SASL_SSL` with the StandardAuthorizer (`infra/kafka_secure.ts`);
 * each system's topics and ACLs are created as admin, each process logs in as its role, and the
 * checks read as admin.
 *
 * Prints a table and writes `bench/results/faults-<time>.json` (one entry per scenario: sent,
 * acknowledged, finalized, lost, duplicated, longest recovery, checks). Exits 1 when a check fails.
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../lib/config.ts";
import { KAFKA_CLIENTS, type KafkaClientName } from "../lib/kafka/mod.ts";
import { type RunningKafka, startKafka } from "../infra/kafka.ts";
import { stopOnSignal, useKafkaLogin } from "./fault_harness.ts";
import { type FaultResult, passed, SCENARIOS } from "./fault_scenarios.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const say = (line: string) => console.error(`[faults] ${line}`);

const args = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    client: { type: "string", default: loadConfig({}).KAFKA_CLIENT },
    brokers: { type: "string" },
    secure: { type: "boolean", default: false },
    kill: { type: "string", default: "controller" },
    out: { type: "string", default: `${ROOT}bench/results` },
  },
}).values;
const names = args.only?.split(",").map((s) => s.trim()) ?? Object.keys(SCENARIOS);
const unknown = names.filter((n) => !(n in SCENARIOS));
if (unknown.length > 0 || !(KAFKA_CLIENTS as readonly string[]).includes(args.client)) {
  console.error(
    `Cannot run faults: ${
      unknown.length > 0
        ? `unknown scenario "${unknown.join(", ")}" (known: ${Object.keys(SCENARIOS).join(", ")})`
        : `--client must be one of ${KAFKA_CLIENTS.join(", ")}: current value is "${args.client}"`
    }`,
  );
  Deno.exit(2);
}

if (args.kill !== "controller" && args.kill !== "leader") {
  console.error(
    `Cannot run faults: --kill must be controller or leader: current value is "${args.kill}"`,
  );
  Deno.exit(2);
}
if (args.secure && args.brokers) {
  console.error("Cannot run faults: --secure starts its own cluster, --brokers names another");
  Deno.exit(2);
}
let cluster: RunningKafka | null = null;
let brokers = args.brokers;
if (!brokers) {
  cluster = await startKafka({
    nodes: 3,
    port: 0,
    // A secure cluster's CA and passwords are read by the gateway, which may read the project only.
    dataDir: args.secure
      ? `${ROOT}.cache/faults-secure-${Date.now().toString(36)}`
      : await Deno.makeTempDir({ prefix: "despacho-faults-" }),
    memoryData: true,
    secure: args.secure,
    say,
  });
  brokers = cluster.brokers;
  const material = cluster.secure;
  if (material) {
    useKafkaLogin((user) => ({
      KAFKA_SECURITY_PROTOCOL: "SASL_SSL",
      KAFKA_SASL_USERNAME: user,
      KAFKA_SASL_PASSWORD_FILE: material.passwordFiles[user],
      KAFKA_TLS_CA_FILE: material.caFile,
    }));
  }
}
// Ctrl-C or a SIGTERM stops the scenario's processes and the suite's own cluster, then exits 130.
stopOnSignal(say, async () => await cluster?.remove());
const results: FaultResult[] = [];
const started = new Date();
try {
  for (const [i, name] of names.entries()) {
    say(`[${i + 1}/${names.length}] ${name}${args.quick ? " (quick)" : ""}`);
    const t0 = performance.now();
    const result = await SCENARIOS[name as keyof typeof SCENARIOS]({
      brokers,
      cluster,
      client: args.client as KafkaClientName,
      quick: args.quick,
      say,
      brokerVictim: args.kill,
    });
    result.extra.seconds = Math.round((performance.now() - t0) / 1000);
    results.push(result);
    for (const c of result.checks) say(`    ${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}`);
  }
} finally {
  await cluster?.remove();
}

const table = [
  `Fault suite, ${args.quick ? "quick" : "full"}, client ${args.client}, ${
    cluster ? "local 3-node cluster" : `brokers ${brokers}`
  }, ${started.toISOString()}`,
  "",
  "| scenario | sent | acknowledged | finalized | lost | duplicated | longest recovery | checks |",
  "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ...results.map((r) =>
    `| ${r.scenario} | ${r.sent} | ${r.acknowledged} | ${r.finalized} | ${r.lost} | ${r.duplicated} | ${
      (r.recoveryMs / 1000).toFixed(1)
    } s | ${
      passed(r) ? "all passed" : r.checks.filter((c) => !c.ok).map((c) => c.name).join(", ")
    } |`
  ),
].join("\n");
console.log(table);
await Deno.mkdir(args.out, { recursive: true });
const file = `${args.out}/faults-${args.secure ? "secure-" : ""}${
  started.toISOString().replace(/[:.]/g, "-")
}.json`;
await Deno.writeTextFile(
  file,
  JSON.stringify(
    {
      started,
      quick: args.quick,
      secure: args.secure,
      client: args.client,
      brokers,
      scenarios: results.map((r) => ({ ...r, ok: passed(r) })),
    },
    null,
    2,
  ),
);
say(`results in ${file}`);
Deno.exit(results.every(passed) ? 0 : 1);
