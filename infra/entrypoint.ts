/**
 * What every program's entrypoint does first (the gateway, the worker, the status backfill, the
 * dead-letter tool): read the configuration once from the environment, or stop with its one
 * sentence and exit code 2. Here rather than in lib/, which stays free of `Deno.*`.
 */
import { type Config, loadConfig } from "../lib/config.ts";

/**
 * The configuration from the environment, or the process ends (exit 2) saying what is wrong.
 *
 * @returns The configuration.
 */
export function configOrExit(): Config {
  try {
    return loadConfig(Deno.env.toObject());
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(2);
  }
}
