/**
 * The worker program: `worker --role processing|notification|purchase-analytics`.
 * Reads configuration once, ensures the topics, runs one role until SIGINT/SIGTERM.
 *
 * With `METRICS_PORT` set, it serves its Prometheus metrics at `http://METRICS_HOST:METRICS_PORT/metrics`
 * and reads its consumer lag every 5 s; `/healthz` answers while the process runs, `/readyz` 503
 * while a part reports a problem it cannot get past alone (our SMTP login or TLS refused).
 *
 * Retriable is not fatal: a role that fails for a reason that may pass (broker restart,
 * coordinator moved, timeouts on a slow machine) is started again on a fresh Kafka client after a
 * back-off. Only a fatal failure (fenced by a newer instance of itself) ends the process, with
 * exit code 1; a bad configuration exits with 2.
 */
import { parseArgs } from "node:util";
import { configOrExit } from "../infra/entrypoint.ts";
import {
  createKafkaClient,
  kafkaErrorCodes,
  orderTopics,
  purchaseMailTopics,
  purchaseTopics,
} from "../lib/kafka/mod.ts";
import { watchLag } from "../lib/kafka/observe.ts";
import { createLogger } from "../lib/log.ts";
import { METRICS_CONTENT_TYPE, registry, zeroDeadLetters } from "../lib/metrics.ts";
import { readiness } from "../lib/readiness.ts";
import { supervise } from "../lib/supervise.ts";
import type { RoleModule } from "./role.ts";

const ROLES = ["processing", "notification", "purchase-analytics"] as const;
type RoleName = typeof ROLES[number];
const USAGE = `usage: worker --role ${ROLES.join("|")}`;

/** Each role's module, by literal path so that `deno compile` bundles every one. */
async function loadRole(role: RoleName): Promise<RoleModule> {
  switch (role) {
    case "processing":
      return await import("./processing.ts");
    case "notification":
      return await import("./notification.ts");
    case "purchase-analytics":
      return await import("./purchase_analytics.ts");
  }
}

let args;
try {
  args =
    parseArgs({ args: Deno.args, options: { role: { type: "string" }, help: { type: "boolean" } } })
      .values;
} catch (error) {
  console.error(`${(error as Error).message}\n${USAGE}`);
  Deno.exit(2);
}
if (args.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const role = args.role as RoleName | undefined;
if (role === undefined || !ROLES.includes(role)) {
  console.error(
    `Cannot start worker: --role must be one of ${ROLES.join(", ")}: current value is "${
      args.role ?? ""
    }"\n${USAGE}`,
  );
  Deno.exit(2);
}

const config = configOrExit();

const log = createLogger(role, config.LOG_LEVEL);
const stop = new AbortController();
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(sig, () => {
    log.info("stopping", { signal: sig });
    stop.abort();
  });
}

const { run, identity } = await loadRole(role);
/** The role's consumer group and the topics it reads, for its lag and dead-letter series. */
const inputs = identity(config);
const topics = role === "purchase-analytics"
  ? purchaseTopics(config)
  : role === "notification"
  ? [...orderTopics(config), ...purchaseMailTopics(config)]
  : orderTopics(config);

zeroDeadLetters(inputs.topics);
let metricsServer: Deno.HttpServer | null = null;
if (config.METRICS_PORT !== undefined) {
  metricsServer = Deno.serve({
    hostname: config.METRICS_HOST,
    port: config.METRICS_PORT,
    onListen: ({ hostname, port }) =>
      log.info("serving metrics", { url: `http://${hostname}:${port}/metrics` }),
  }, async function metrics(req) {
    const path = new URL(req.url).pathname;
    if (path === "/healthz") return Response.json({ status: "ok" });
    if (path === "/readyz") return readyz();
    if (path !== "/metrics") {
      return new Response("Not found\n", { status: 404 });
    }
    return new Response(await registry.metrics(), {
      headers: { "content-type": METRICS_CONTENT_TYPE },
    });
  });
  const lagClient = createKafkaClient(config, log);
  void watchLag({
    kafka: lagClient,
    group: inputs.groupId,
    topics: inputs.topics,
    log,
    signal: stop.signal,
  }).finally(() => lagClient.close());
}
/** `GET /readyz`: 200, or 503 naming each problem (sentences without secrets). */
function readyz(): Response {
  if (readiness.ready) return Response.json({ ready: true });
  const problems = readiness.problems();
  return Response.json({
    type: "about:blank",
    title: "Not ready",
    status: 503,
    detail: `Not ready: ${Object.values(problems).join("; ")}`,
    problems,
  }, { status: 503, headers: { "content-type": "application/problem+json" } });
}

let fatal = false;
try {
  await supervise(async () => {
    const kafka = createKafkaClient(config, log);
    try {
      const created = await kafka.ensureTopics(topics, {
        timeoutMs: config.STARTUP_TIMEOUT_MS,
        say: (line) => log.info(line),
        signal: stop.signal,
      });
      if (created.length > 0) log.info("created topics", { topics: created });
      await run({ config, log, kafka, signal: stop.signal });
    } catch (error) {
      fatal = kafka.classify(error) === "fatal";
      throw error;
    } finally {
      await kafka.close();
    }
  }, {
    classify: () => fatal ? "fatal" : "retriable",
    signal: stop.signal,
    role,
    onRestart: (error, restart, delayMs) =>
      // The Kafka codes (e.g. TOPIC_AUTHORIZATION_FAILED) say why, whichever library threw it.
      log.warn("role failed; starting it again", {
        error,
        codes: kafkaErrorCodes(error),
        restart,
        delayMs,
      }),
  });
  await metricsServer?.shutdown();
  log.info("stopped");
  Deno.exit(0);
} catch (error) {
  log.error("Cannot go on: this instance was fenced by a newer one with the same identity", {
    error,
  });
  Deno.exit(1);
}
