/**
 * The system's processes for a bench scenario, started as their deno.json tasks run them (the same
 * permission flags) but as `deno run` directly, not through `deno task`: `deno task` runs the
 * program in a child process, so the pid it returns is not the one whose CPU and memory count, and
 * flags such as `--cpu-prof` could not reach the program.
 */
import { type Proc, spawnDeno } from "../infra/process.ts";

export type { Proc };

const ROOT = new URL("../", import.meta.url).pathname;
const TASKS = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks as Record<
  string,
  string
>;

/**
 * `["run", flags…, file]` of a `deno run` task in deno.json, so a process runs as the task would.
 *
 * @param task A task of deno.json whose command is `deno run <flags> <file>`.
 * @param extraFlags Deno flags added before the file (e.g. `--cpu-prof`).
 * @throws {RangeError} When deno.json has no such task.
 */
export function taskArgs(task: string, extraFlags: readonly string[] = []): string[] {
  const command = TASKS[task];
  if (command === undefined) {
    throw new RangeError(`Cannot run task: deno.json has no task "${task}"`);
  }
  const words = command.split(/\s+/);
  return [
    "run",
    ...words.filter((w) => /^--(allow|deny)-/.test(w)),
    ...extraFlags,
    words.at(-1)!,
  ];
}

/** Options of {@linkcode spawnTask}. */
export interface SpawnTaskOptions {
  /**
   * Write a V8 CPU profile of the process into this folder when it exits (`--cpu-prof`), named
   * after the process.
   */
  profileDir?: string;
  /** The profile's file name, without `.cpuprofile`. @default the process's name */
  profileName?: string;
}

/**
 * Starts the program of `deno task <task> <args>` and waits until a stderr line matches `ready`.
 *
 * @throws {Error} When it exits or is not ready within the start-up ceiling, with its last lines.
 */
export function spawnTask(
  name: string,
  task: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  options: SpawnTaskOptions = {},
): Promise<Proc> {
  const profile = options.profileDir === undefined ? [] : [
    "--cpu-prof",
    `--cpu-prof-dir=${options.profileDir}`,
    `--cpu-prof-name=${options.profileName ?? name}.cpuprofile`,
  ];
  return spawnDeno(name, [...taskArgs(task, profile), ...args], env, ready);
}
