/**
 * The worker program: `worker --role processing|notification|purchase-analytics`.
 * Reads configuration once, ensures the topics, runs one role until SIGINT/SIGTERM.
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../lib/config.ts";
import { createKafka } from "../lib/kafka.ts";
import { createLogger } from "../lib/log.ts";
import { ensureTopics, orderTopics, purchaseTopics } from "../lib/topics.ts";
import type { Role } from "./role.ts";

const ROLES = ["processing", "notification", "purchase-analytics"] as const;
type RoleName = typeof ROLES[number];
const USAGE = `usage: worker --role ${ROLES.join("|")}`;

/** Each role's module, by literal path so that `deno compile` bundles every one. */
async function loadRole(role: RoleName): Promise<Role> {
  switch (role) {
    case "processing":
      return (await import("./processing.ts")).run;
    case "notification":
      return (await import("./notification.ts")).run;
    case "purchase-analytics":
      return (await import("./purchase_analytics.ts")).run;
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

let config;
try {
  config = loadConfig(Deno.env.toObject());
} catch (error) {
  console.error((error as Error).message);
  Deno.exit(2);
}

const log = createLogger(role, config.LOG_LEVEL);
const kafka = createKafka(config, log);
const stop = new AbortController();
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(sig, () => {
    log.info("stopping", { signal: sig });
    stop.abort();
  });
}

try {
  const admin = kafka.admin();
  await admin.connect();
  const created = await ensureTopics(
    admin,
    role === "purchase-analytics" ? purchaseTopics(config) : orderTopics(config),
  );
  await admin.disconnect();
  if (created.length > 0) log.info("created topics", { topics: created });
  const run = await loadRole(role);
  await run({ config, log, kafka, signal: stop.signal });
  log.info("stopped");
  Deno.exit(0);
} catch (error) {
  log.error("worker failed", { error });
  Deno.exit(1);
}
