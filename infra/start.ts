/**
 * `deno task start`: the whole system on this machine — a local Kafka broker (or a 3-node cluster
 * with `KAFKA_NODES=3`; none when `KAFKA_BROKERS` points at an existing cluster), the gateway and
 * one worker per role — with each process's output prefixed by its name.
 *
 * A process that exits is started again after a back-off (1 s, doubling to 30 s; back to 1 s once
 * it has run for a minute), and the reason is said; only a configuration error (exit code 2) stops
 * everything, since a restart would fail the same way. Ctrl-C (or SIGTERM) stops every process it
 * started, the broker last, and waits for them to exit.
 *
 * `KAFKA_SECURE=1` starts the local Kafka with a `SASL_SSL` listener and ACLs instead (see
 * `infra/kafka_secure.ts`): the admin principal creates the topics and each role's ACLs, and each
 * process logs in as its own role; the CA and the passwords are in `.cache/kafka-data/…-secure/`.
 *
 * Access: staff routes need a credential. Unless `STAFF_TOKEN(_FILE)` or `OIDC_*` are set, a random
 * staff token is made on first start in `.cache/staff-token` (and the gateway's shared secret in
 * `.cache/gateway-secret`), both readable by their owner only, and the sign-in link is printed (the
 * token in its fragment, never in a query string).
 *
 * Metrics: the gateway serves `/metrics` on its port (staff only); the roles get `METRICS_PORT`
 * 9464, 9465 and 9466 (from `METRICS_PORT` when it is set). Each process gets its own `OTEL_SERVICE_NAME`
 * (`despacho-<name>`); the other `OTEL_*` variables (e.g. `OTEL_DENO=true`) pass through to all.
 */
import { loadOrCreateSecret, signInLine } from "../gateway/auth/mod.ts";
import { loadConfig } from "../lib/config.ts";
import { createKafkaClient, type PrincipalRole, provisionKafka } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import { waitFor } from "../lib/wait.ts";
import { type RunningKafka, startKafka, startupTimeoutMs } from "./kafka.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const ROLES = ["processing", "notification", "purchase-analytics"] as const;
/** Exit code of a process refusing its configuration (lib/config.ts): restarting cannot help. */
const CONFIG_ERROR = 2;

interface Supervised {
  name: string;
  child: Deno.ChildProcess | null;
  restarts: number;
}

const say = (line: string) => console.error(`[start] ${line}`);
const procs: Supervised[] = [];
let stopping = false;

const external = Deno.env.get("KAFKA_BROKERS");
const nodes = Number(Deno.env.get("KAFKA_NODES") ?? "1");
if (!external && nodes !== 1 && nodes !== 3) {
  say(
    `Cannot start: KAFKA_NODES must be 1 or 3: current value is "${Deno.env.get("KAFKA_NODES")}"`,
  );
  Deno.exit(CONFIG_ERROR);
}
const metricsBase = Number(Deno.env.get("METRICS_PORT") || "9464");
if (!Number.isInteger(metricsBase) || metricsBase < 1 || metricsBase > 65533) {
  say(
    `Cannot start: METRICS_PORT must be a port from 1 to 65533: current value is "${
      Deno.env.get("METRICS_PORT")
    }"`,
  );
  Deno.exit(CONFIG_ERROR);
}
const secure = Deno.env.get("KAFKA_SECURE") === "1";
if (secure && external) {
  say(
    "Cannot start: KAFKA_SECURE=1 starts a local secure cluster, KAFKA_BROKERS names another: " +
      "unset one (for your own cluster, set KAFKA_SECURITY_PROTOCOL and the KAFKA_SASL_* variables)",
  );
  Deno.exit(CONFIG_ERROR);
}
// With TLS_CERT(_FILE) the gateway answers HTTPS only: checked trusting that certificate, which
// must then name 127.0.0.1 (docs/security.md: HTTPS). Read before anything starts: a file that
// cannot be read stops the start with one sentence, nothing left running.
let tlsCert = Deno.env.get("TLS_CERT") ?? "";
const tlsCertFile = Deno.env.get("TLS_CERT_FILE");
if (!tlsCert && tlsCertFile) {
  try {
    tlsCert = Deno.readTextFileSync(tlsCertFile);
  } catch (error) {
    say(
      `Cannot start: TLS_CERT_FILE cannot be read (${
        (error as Error).name
      }): current value is "${tlsCertFile}"`,
    );
    Deno.exit(CONFIG_ERROR);
  }
}
let kafka: RunningKafka | null = null;
if (!external) {
  try {
    kafka = await startKafka({
      nodes,
      port: 9092,
      dataDir: `${ROOT}.cache/kafka-data/9092${nodes === 1 ? "" : `x${nodes}`}${
        secure ? "-secure" : ""
      }`,
      say,
      secure,
    });
  } catch (error) {
    say(error instanceof Error ? error.message : String(error));
    Deno.exit(1);
  }
}
// Access control: the staff token and the shared secret, made on first start, readable by their
// owner only. Given ones (STAFF_TOKEN_FILE, GATEWAY_SECRET_FILE, OIDC_*) are left as they are.
const given = (name: string) => Boolean(Deno.env.get(name) || Deno.env.get(`${name}_FILE`));
let staffToken: string | null = null;
let staffTokenCreated = false;
const secrets: Record<string, string> = {};
if (!given("STAFF_TOKEN") && !Deno.env.get("OIDC_ISSUER")) {
  const path = `${ROOT}.cache/staff-token`;
  const token = await loadOrCreateSecret(path);
  staffToken = token.value;
  staffTokenCreated = token.created;
  secrets.STAFF_TOKEN_FILE = path;
  if (token.created) say(`made a staff token in ${path} (readable by you only)`);
}
if (!given("GATEWAY_SECRET")) {
  const path = `${ROOT}.cache/gateway-secret`;
  await loadOrCreateSecret(path);
  secrets.GATEWAY_SECRET_FILE = path;
}

const brokers = external ?? kafka!.brokers;
say(external ? `using existing Kafka at ${brokers}` : `local Kafka at ${brokers}`);
const env: Record<string, string> = { KAFKA_BROKERS: brokers };
if (!external && nodes === 3 && !Deno.env.get("TOPIC_REPLICATION_FACTOR")) {
  env.TOPIC_REPLICATION_FACTOR = "3";
}
// This launcher serves one machine on loopback, where `deno task load` sends 50 orders a second
// from the same address: no order rate limit here unless asked for (streams stay capped).
if (!Deno.env.get("ORDER_RATE_PER_S")) env.ORDER_RATE_PER_S = "0";

/** The variables that log a process in as `user` on the secure local cluster (none otherwise). */
function loginAs(user: PrincipalRole | "admin"): Record<string, string> {
  const material = kafka?.secure;
  if (!material) return {};
  return {
    KAFKA_SECURITY_PROTOCOL: "SASL_SSL",
    KAFKA_SASL_MECHANISM: "SCRAM-SHA-512",
    KAFKA_SASL_USERNAME: user,
    KAFKA_SASL_PASSWORD_FILE: material.passwordFiles[user],
    KAFKA_TLS_CA_FILE: material.caFile,
  };
}

if (kafka?.secure) {
  // The roles may not create topics or ACLs: the admin principal does, once, before they start.
  try {
    const config = loadConfig({ ...Deno.env.toObject(), ...env, ...loginAs("admin") });
    const admin = createKafkaClient(config, createLogger("start", "warn"));
    await provisionKafka(admin, config, { timeoutMs: startupTimeoutMs(), say });
    await admin.close();
  } catch (error) {
    say(`Cannot set up the secure cluster: ${error instanceof Error ? error.message : error}`);
    await kafka.stop();
    Deno.exit(1);
  }
  say(
    `Kafka is SASL_SSL with ACLs: CA ${kafka.secure.caFile}; one SCRAM user per role, passwords ` +
      `in ${kafka.secure.dir}/<user>.password (admin.password: topics and ACLs; ` +
      `producer.password: a shop's own producer, may only write purchase_events)`,
  );
} else if (!external) {
  say(
    "Kafka is PLAINTEXT on 127.0.0.1, no login (KAFKA_SECURE=1: SASL_SSL with one user per role)",
  );
}

/** The delay before restart number `n` (1-based): 1 s doubling, at most 30 s. */
function restartDelay(n: number): number {
  return Math.min(30_000, 1000 * 2 ** (n - 1));
}

function supervise(
  name: string,
  task: string,
  args: string[] = [],
  own: Record<string, string> = {},
): void {
  const proc: Supervised = { name, child: null, restarts: 0 };
  procs.push(proc);
  const launch = () => {
    const started = Date.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", task, ...args],
      cwd: ROOT,
      env: { ...env, OTEL_SERVICE_NAME: `despacho-${name}`, ...own },
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    proc.child = child;
    prefix(child.stdout, name);
    prefix(child.stderr, name);
    child.status.then((status) => {
      proc.child = null;
      if (stopping) return;
      if (status.code === CONFIG_ERROR) {
        say(`${name} refused its configuration (exit code 2); stopping everything`);
        void shutdown(CONFIG_ERROR);
        return;
      }
      if (Date.now() - started > 60_000) proc.restarts = 0;
      const delay = restartDelay(++proc.restarts);
      say(
        `${name} exited with code ${status.code}${
          status.signal ? ` (${status.signal})` : ""
        }; restarting it in ${delay / 1000} s (restart ${proc.restarts})`,
      );
      setTimeout(() => {
        if (!stopping) launch();
      }, delay);
    });
  };
  launch();
}

async function prefix(stream: ReadableStream<Uint8Array>, name: string): Promise<void> {
  const label = `[${name}] `.padEnd(22);
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) console.log(label + line);
  }
  if (rest) console.log(label + rest);
}

async function shutdown(code: number): Promise<never> {
  if (stopping) return await new Promise<never>(() => {});
  stopping = true;
  say("stopping…");
  const running = procs.flatMap((p) => p.child === null ? [] : [p.child]);
  for (const child of running) {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  }
  const grace = setTimeout(() => {
    for (const child of running) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
  }, 15_000);
  await Promise.all(running.map((c) => c.status));
  clearTimeout(grace);
  if (kafka) {
    say("stopping Kafka…");
    await kafka.stop();
  }
  say("stopped");
  Deno.exit(code);
}

Deno.addSignalListener("SIGINT", () => void shutdown(0));
Deno.addSignalListener("SIGTERM", () => void shutdown(0));

// A local broker node that dies is started again too, so the roles find it back.
for (const node of kafka?.nodes ?? []) {
  const watch = async () => {
    let restarts = 0;
    while (!stopping) {
      await new Promise((r) => setTimeout(r, 1000));
      if (stopping || node.pid() !== null) continue;
      const delay = restartDelay(++restarts);
      say(`Kafka node ${node.id} is not running; starting it again in ${delay / 1000} s`);
      await new Promise((r) => setTimeout(r, delay));
      if (stopping) return;
      await node.start().then(() => (restarts = 0), (error) => say(String(error)));
    }
  };
  void watch();
}

const metricsPorts = ROLES.map((_, i) => metricsBase + i);
supervise("gateway", "gateway", [], { ...secrets, ...loginAs("gateway") });
for (const [i, role] of ROLES.entries()) {
  supervise(role, "worker", ["--role", role], {
    METRICS_PORT: String(metricsPorts[i]),
    ...loginAs(role),
  });
}

const port = Deno.env.get("PORT") ?? "8080";
const checking = tlsCert ? { client: Deno.createHttpClient({ caCerts: [tlsCert] }) } : {};
const url = `${tlsCert ? "https" : "http"}://127.0.0.1:${port}`;
await waitFor(`the gateway at ${url}/readyz`, async () => {
  const res = await fetch(`${url}/readyz`, checking);
  await res.body?.cancel();
  return res.ok ? { ready: true, value: undefined } : { ready: false, why: `HTTP ${res.status}` };
}, { timeoutMs: startupTimeoutMs(), intervalMs: 500, progressMs: 15_000, say }).then(
  () =>
    say(
      `ready: open ${url}/ — or try: curl -i -X POST ${url}/orders ` +
        `-H 'content-type: application/json' ` +
        `-d '{"name":"Pizza","price":12990,"email":"cliente@example.cl"}'`,
    ),
  (error) => say(`${(error as Error).message}; the processes keep running`),
);
say(`web page: ${url}/ — API docs (staff): ${url}/docs`);
if (staffToken !== null) {
  // The way in, to a person at this terminal (never logged by a process); into a file or a pipe
  // (`| tee start.log`) only where it is, since captured output travels further.
  if (staffTokenCreated || Deno.stderr.isTerminal()) say(signInLine(url, staffToken));
  else say(`Staff sign-in: ${url}/#token=<the token in .cache/staff-token>`);
  say(
    `or as a bearer token: curl -H "Authorization: Bearer $(cat .cache/staff-token)" '${url}/orders?limit=5'`,
  );
}
say(
  `metrics: ${url}/metrics (gateway), ` +
    ROLES.map((role, i) => `http://127.0.0.1:${metricsPorts[i]}/metrics (${role})`).join(", "),
);
say(
  Deno.env.get("OTEL_DENO") === "true"
    ? `traces: OTLP to ${
      Deno.env.get("OTEL_EXPORTER_OTLP_ENDPOINT") ?? "http://localhost:4318"
    } (OTEL_DENO=true)`
    : "traces: off (OTEL_DENO=true exports them; records carry a traceparent either way)",
);
say("Ctrl-C stops everything");
