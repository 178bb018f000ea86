/**
 * The system's processes for a bench scenario: the gateway and workers started through their
 * deno.json tasks (the same permission flags as `deno task start`), each ready when it says so.
 */

const ROOT = new URL("../", import.meta.url).pathname;

/** A started process. */
export interface Proc {
  name: string;
  child: Deno.ChildProcess;
  /** The last lines it wrote to stderr, for error reports. */
  tail(): string;
  stop(): Promise<void>;
}

/**
 * Starts `deno task <task> <args>` and waits until a stderr line matches `ready`.
 *
 * @throws {Error} When it exits or stays silent for 60 s first, with its last lines.
 */
export async function spawnTask(
  name: string,
  task: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<Proc> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", task, ...args],
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
  const proc: Proc = {
    name,
    child,
    tail: () => lines.join("\n"),
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 5_000);
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
