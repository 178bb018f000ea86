/**
 * Child Deno processes for the bench and the tests: started with given arguments and
 * environment, ready when a line of their stderr says so, stderr drained to the end (a closed
 * pipe would kill the child on its next log line), stopped with SIGTERM then SIGKILL.
 */
import { waitFor } from "../lib/wait.ts";
import { appendAll, startupTimeoutMs } from "./kafka.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** A started process. */
export interface Proc {
  name: string;
  child: Deno.ChildProcess;
  /** The last lines it wrote to stderr, for error reports. */
  tail(): string;
  /** How many stderr lines so far matched the pattern named `name` in {@linkcode SpawnOptions.counts}. */
  counted(name: string): number;
  /** Sends `sig`; false when the process has already ended. */
  signal(sig: Deno.Signal): boolean;
  /** Whether it has ended (its exit status, once it has). */
  ended(): Deno.CommandStatus | null;
  /** SIGKILL, and wait for it to end. */
  kill(): Promise<void>;
  /** SIGTERM, SIGKILL after `graceMs` (default 10 s), and wait for it to end. */
  stop(graceMs?: number): Promise<void>;
}

/** Options of {@linkcode spawnDeno}. */
export interface SpawnOptions {
  /** Longest wait for the ready line. @default `STARTUP_TIMEOUT_MS`, else 10 minutes */
  timeoutMs?: number;
  /** Progress while waiting. @default console.error */
  say?: (line: string) => void;
  /** Stderr lines to count from the first, by name (see {@linkcode Proc.counted}). */
  counts?: Readonly<Record<string, RegExp>>;
  /** A file every stderr line is appended to (made with its folder; a restart appends). */
  logFile?: string;
}

/**
 * Starts `deno <args>` in the project folder and waits until a stderr line matches `ready`,
 * saying every 10 s what it waits for and the child's last line.
 *
 * @param name For messages.
 * @param args Deno's arguments (`["task", "-q", "worker", …]`, `["run", flags…, file]`).
 * @param env Added to the environment.
 * @param ready What the process prints once it is ready.
 * @param options Ceiling and progress output.
 * @throws {Error} When it exits or is not ready within the ceiling, with its last lines.
 */
export async function spawnDeno(
  name: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  options: SpawnOptions = {},
): Promise<Proc> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const counters = Object.entries(options.counts ?? {}).map(([name, pattern]) => ({
    name,
    pattern,
    count: 0,
  }));
  let isReady = false;
  let exited = false;
  let status: Deno.CommandStatus | null = null;
  child.status.then((s) => {
    exited = true;
    status = s;
  });
  const log = options.logFile === undefined ? null : await openLog(options.logFile);
  let stderr: ReadableStream<Uint8Array> = child.stderr;
  if (log !== null) {
    // A copy to the log file, read apart: a failed write (a full disk) ends the copy, never the
    // drain below (a closed pipe would kill the child on its next line).
    const [lines, copy] = child.stderr.tee();
    stderr = lines;
    appendAll(copy, log).catch(() => copy.cancel().catch(() => {})).finally(() => log.close());
  }
  (async () => {
    let rest = "";
    for await (const chunk of stderr.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) {
        if (ready.test(line)) isReady = true;
        for (const c of counters) if (c.pattern.test(line)) c.count++;
        lines.push(line);
        if (lines.length > 20) lines.shift();
      }
    }
  })().catch(() => {});
  const send = (sig: Deno.Signal) => {
    try {
      child.kill(sig);
      return true;
    } catch {
      return false; // already exited
    }
  };
  const proc: Proc = {
    name,
    child,
    tail: () => lines.join("\n"),
    counted(name) {
      const c = counters.find((c) => c.name === name);
      if (c === undefined) throw new RangeError(`Cannot count "${name}": not in options.counts`);
      return c.count;
    },
    signal: send,
    ended: () => status,
    async kill() {
      send("SIGKILL");
      await child.status;
    },
    async stop(graceMs = 10_000) {
      if (!send("SIGTERM")) return;
      const timer = setTimeout(() => send("SIGKILL"), graceMs);
      await child.status;
      clearTimeout(timer);
    },
  };
  const say = options.say ?? ((line: string) => console.error(line));
  try {
    await waitFor(`${name} to be ready`, () => {
      if (isReady) return Promise.resolve({ ready: true, value: undefined });
      if (exited) return Promise.resolve({ ready: false, fatal: new Exited() });
      return Promise.resolve({ ready: false, why: (lines.at(-1) ?? "silent").slice(0, 200) });
    }, {
      timeoutMs: options.timeoutMs ?? startupTimeoutMs(),
      intervalMs: 50,
      progressMs: 10_000,
      say: (line) => say(`[${name}] ${line}`),
    });
  } catch (error) {
    await proc.stop();
    throw new Error(
      `Cannot start ${name}: ${
        error instanceof Exited || exited ? "it exited" : (error as Error).message
      }: ${proc.tail()}`,
    );
  }
  return proc;
}

class Exited extends Error {}

/**
 * A process's CPU time (user + system) so far, its resident memory now and at its peak, and its
 * open file descriptors.
 */
export interface ProcStat {
  cpuS: number;
  rssMiB: number;
  /** The largest resident set the process has had since it started (`VmHWM`). */
  peakRssMiB: number;
  /** Open file descriptors now (entries of `/proc/<pid>/fd`). */
  fds: number;
}

const GONE: ProcStat = { cpuS: NaN, rssMiB: NaN, peakRssMiB: NaN, fds: NaN };

/**
 * A process's CPU time (user + system) in seconds and its resident memory in MiB, from Linux
 * /proc (read with `cat`: Deno asks for every permission to read /proc itself).
 *
 * @param pid The process.
 * @returns CPU seconds and RSS; `NaN`s when the process is gone.
 */
export async function procStat(pid: number): Promise<ProcStat> {
  return (await procStats([pid])).get(pid) ?? GONE;
}

/**
 * {@linkcode procStat} of several processes with one child process (`sh` and `cat`), cheap enough
 * to sample a whole system a few times a second.
 *
 * @param pids The processes.
 * @returns Each pid's figures; `NaN`s for a process that is gone.
 */
export async function procStats(pids: readonly number[]): Promise<Map<number, ProcStat>> {
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      'for p in "$@"; do echo "@@ $p"; cat "/proc/$p/stat" "/proc/$p/status" 2>/dev/null; ' +
      'echo "Fds: $(ls "/proc/$p/fd" 2>/dev/null | wc -l)"; done',
      "sh",
      ...pids.map(String),
    ],
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const stats = new Map<number, ProcStat>(pids.map((p) => [p, GONE]));
  for (const part of text.split("@@ ").slice(1)) {
    const pid = Number(part.slice(0, part.indexOf("\n")));
    const stat = /^\d+ \(.*\) .*$/m.exec(part)?.[0];
    if (stat === undefined) continue;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    const kib = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(part)?.[1] ?? NaN);
    stats.set(pid, {
      cpuS: ticks / 100,
      rssMiB: kib("VmRSS") / 1024,
      peakRssMiB: kib("VmHWM") / 1024,
      fds: Number(/Fds:\s+(\d+)/.exec(part)?.[1] ?? NaN),
    });
  }
  return stats;
}

/** A log file opened for appending, its folder made; null (said once) when it cannot be. */
async function openLog(path: string): Promise<Deno.FsFile | null> {
  try {
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/") + 1) || ".", { recursive: true });
    return await Deno.open(path, { append: true, create: true });
  } catch (error) {
    console.error(`Cannot keep the output in ${path}: ${(error as Error).message}`);
    return null;
  }
}
