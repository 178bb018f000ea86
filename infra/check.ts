/**
 * `deno task test` (what `.ci/run` runs): every check the project keeps — `deno fmt --check`,
 * `deno lint`, `deno check`, then the whole test suite against a real Kafka broker started here on a free
 * port (or `KAFKA_BROKERS`, when set). Extra arguments go to `deno test` (e.g. a file filter).
 */
import { findChromium, INSTALL_PACKAGES } from "./browser.ts";
import { loadConfig } from "../lib/config.ts";
import { KAFKA_CLIENTS } from "../lib/kafka/interfaces.ts";
import { startKafka } from "./kafka.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const say = (line: string) => console.error(`[test] ${line}`);

/**
 * The integration tests run with every Kafka client, not only the default: the pipeline end to
 * end (with the dead-letter topic and SMTP outages), crashes, a live rebalance, one order per key,
 * replaying dead letters, the order store resuming and rebuilt.
 */
const BOTH_CLIENTS = [
  "workers/integration/orders_e2e_test.ts",
  "workers/integration/processing_crash_test.ts",
  "workers/integration/transactional_crash_test.ts",
  "workers/integration/rebalance_test.ts",
  "workers/integration/dedupe_test.ts",
  "workers/integration/purchases_test.ts",
  "workers/integration/purchase_mail_test.ts",
  "workers/integration/dead_letters_test.ts",
  "workers/integration/status_store_test.ts",
  "workers/integration/erasure_test.ts",
  "workers/integration/tombstones_test.ts",
  // Starts its own SASL_SSL broker (about 30 s per client here).
  "workers/integration/kafka_security_test.ts",
];

/** Permissions of the test run: loopback network, the project tree and temp files, subprocesses. */
const TEST_FLAGS = [
  "--allow-net=127.0.0.1,localhost,0.0.0.0",
  "--allow-env",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-sys",
];

async function step(name: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  say(`${name}: deno ${args.join(" ")}`);
  const status = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env,
    stdin: "null",
  }).spawn().status;
  if (!status.success) {
    say(`${name} failed (exit code ${status.code})`);
    await cleanup();
    Deno.exit(status.code || 1);
  }
}

let kafka: Awaited<ReturnType<typeof startKafka>> | null = null;
let dataDir: string | null = null;
const giveUp = new AbortController();
let starting: Promise<string> | null = null;
async function cleanup(): Promise<void> {
  giveUp.abort(new Error("stopping: a check failed"));
  await starting?.catch(() => {});
  if (kafka) await kafka.remove();
  kafka = null;
  if (dataDir !== null) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  dataDir = null;
}
Deno.addSignalListener("SIGINT", () => void cleanup().then(() => Deno.exit(130)));

/**
 * The browser tests drive Debian's Chromium (npm playwright-core downloads none, and its download
 * host is out of reach): install it with apt-get when it is missing. Where that fails, the browser
 * test itself fails with the reason.
 */
async function ensureChromium(): Promise<void> {
  const found = findChromium({
    CHROMIUM_PATH: Deno.env.get("CHROMIUM_PATH"),
    SKIP_BROWSER_TESTS: Deno.env.get("SKIP_BROWSER_TESTS"),
  });
  if (!("missing" in found)) return;
  const root = Deno.uid() === 0;
  const apt = (args: string[]) =>
    new Deno.Command(root ? "apt-get" : "sudo", {
      args: root ? args : ["-n", "apt-get", ...args],
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output().catch((error) => ({
      success: false,
      stderr: new TextEncoder().encode(String(error)),
    }));
  say(`browser: installing Debian's ${INSTALL_PACKAGES.join(" ")} with apt-get (first run only)…`);
  const ticker = setInterval(() => say("browser: still installing…"), 15_000);
  const out = await apt(["update", "-qq"]).then((u) =>
    u.success ? apt(["install", "-y", "-qq", "--no-install-recommends", ...INSTALL_PACKAGES]) : u
  );
  clearInterval(ticker);
  if (out.success) say("browser: installed");
  else {
    say(
      `browser: cannot install with apt-get (${
        new TextDecoder().decode(out.stderr).trim().slice(-300)
      }); the browser test will fail saying so`,
    );
  }
}

const only = Deno.args;
// The broker starts while the static checks run: on a slow machine it needs minutes to listen.
let brokers = Deno.env.get("KAFKA_BROKERS");
starting = brokers ? null : (async () => {
  dataDir = await Deno.makeTempDir({ prefix: "despacho-test-kafka-" });
  kafka = await startKafka({ port: 0, dataDir, say, signal: giveUp.signal, memoryData: true });
  return kafka.brokers;
})();
starting?.catch(() => {});
if (only.length === 0) {
  await step("format", ["fmt", "--check"]);
  await step("lint", ["lint"]);
  await step("types", ["check", "."]);
}
await ensureChromium();
// Each test's gateway keeps its order store here (infra/testing.ts topicEnv): one file per test and
// run, of no use to the next run.
await Deno.remove(`${ROOT}.cache/test-order-stores`, { recursive: true }).catch(() => {});
if (starting) {
  brokers = await starting.catch(async (error) => {
    say(error instanceof Error ? error.message : String(error));
    await cleanup();
    return Deno.exit(1);
  });
}
const client = loadConfig({ KAFKA_CLIENT: Deno.env.get("KAFKA_CLIENT") }).KAFKA_CLIENT;
await step(`tests (Kafka client: ${client})`, ["test", ...TEST_FLAGS, ...only], {
  KAFKA_BROKERS: brokers!,
  KAFKA_CLIENT: client,
});
if (only.length === 0) {
  // Both clients stay selectable and tested: the pipeline's integration tests again with the other.
  for (const other of KAFKA_CLIENTS.filter((c) => c !== client)) {
    await step(`tests (Kafka client: ${other})`, ["test", ...TEST_FLAGS, ...BOTH_CLIENTS], {
      KAFKA_BROKERS: brokers!,
      KAFKA_CLIENT: other,
    });
  }
}
await cleanup();
say("all checks passed");
