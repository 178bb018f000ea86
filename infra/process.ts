/**
 * Child Deno processes for the bench and the tests: started with given arguments and
 * environment, ready when a line of their stderr says so, stderr drained to the end (a closed
 * pipe would kill the child on its next log line), stopped with SIGTERM then SIGKILL.
 */

const ROOT = new URL("../", import.meta.url).pathname;

/** A started process. */
export interface Proc {
  name: string;
  child: Deno.ChildProcess;
  /** The last lines it wrote to stderr, for error reports. */
  tail(): string;
  /** SIGKILL, and wait for it to end. */
  kill(): Promise<void>;
  /** SIGTERM, SIGKILL after 5 s, and wait for it to end. */
  stop(): Promise<void>;
}

/**
 * Starts `deno <args>` in the project folder and waits until a stderr line matches `ready`.
 *
 * @param name For messages.
 * @param args Deno's arguments (`["task", "-q", "worker", …]`, `["run", flags…, file]`).
 * @param env Added to the environment.
 * @param ready What the process prints once it is ready.
 * @throws {Error} When it exits or stays silent for 60 s first, with its last lines.
 */
export async function spawnDeno(
  name: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
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
  let signal: () => void = () => {};
  const isReady = new Promise<void>((r) => (signal = r));
  (async () => {
    let rest = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) {
        if (ready.test(line)) signal();
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
    async kill() {
      send("SIGKILL");
      await child.status;
    },
    async stop() {
      if (!send("SIGTERM")) return;
      const timer = setTimeout(() => send("SIGKILL"), 5_000);
      await child.status;
      clearTimeout(timer);
    },
  };
  const outcome = await Promise.race([
    isReady.then(() => "ready" as const),
    child.status.then(() => "exited" as const),
    new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 60_000)),
  ]);
  if (outcome !== "ready") {
    await proc.stop();
    throw new Error(
      `Cannot start ${name}: it ${
        outcome === "exited" ? "exited" : "was not ready in 60 s"
      }: ${proc.tail()}`,
    );
  }
  return proc;
}
