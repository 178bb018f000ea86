/**
 * The gateway program: reads configuration once, serves HTTP until SIGINT/SIGTERM.
 */
import { createLogger } from "../lib/log.ts";
import { configOrExit } from "../infra/entrypoint.ts";
import { accessProblems, createAccess } from "./access.ts";
import { startGateway } from "./server.ts";

const config = configOrExit();
// No default leaves a staff route open: without its credentials the gateway does not start.
const problems = accessProblems(config);
if (problems.length > 0) {
  console.error(problems.join("\n"));
  Deno.exit(2);
}
const log = createLogger("gateway", config.LOG_LEVEL);
let access;
try {
  access = createAccess(config, log);
} catch (error) {
  // An identity provider's settings it cannot use (an algorithm, a key-set URL): a configuration
  // error, said in one sentence, as the others.
  console.error((error as Error).message);
  Deno.exit(2);
}
let gateway;
try {
  gateway = await startGateway(config, log, access);
} catch (error) {
  log.error("Cannot start gateway", { error, brokers: config.KAFKA_BROKERS });
  Deno.exit(1);
}
let stopping = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(sig, async () => {
    // One stop at a time: a second signal while draining (Ctrl-C and the launcher's SIGTERM) waits
    // for the first, which is bounded by DRAIN_TIMEOUT_MS.
    if (stopping) return;
    stopping = true;
    log.info("stopping: new requests get 503 while those in flight finish", { signal: sig });
    // The drain is bounded by DRAIN_TIMEOUT_MS; this bounds whatever comes after it too.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      gateway.stop(),
      new Promise((r) => timer = setTimeout(r, config.DRAIN_TIMEOUT_MS + 10_000)),
    ]);
    clearTimeout(timer);
    log.info("stopped");
    Deno.exit(0);
  });
}
