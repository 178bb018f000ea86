/**
 * The system's processes for a bench scenario, started through their deno.json tasks (the same
 * permission flags as `deno task start`).
 */
import { type Proc, spawnDeno } from "../infra/process.ts";

export type { Proc };

/**
 * Starts `deno task <task> <args>` and waits until a stderr line matches `ready`.
 *
 * @throws {Error} When it exits or stays silent for 60 s first, with its last lines.
 */
export function spawnTask(
  name: string,
  task: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<Proc> {
  return spawnDeno(name, ["task", "-q", task, ...args], env, ready);
}
