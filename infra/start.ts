/**
 * `deno task start`: the whole system on this machine — a local Kafka broker (unless
 * `KAFKA_BROKERS` points at an existing cluster), the gateway and one worker per role — with each
 * process's output prefixed by its name. Ctrl-C (or SIGTERM) stops every process it started, the
 * broker last, and waits for them to exit.
 */
import { startKafka } from "./kafka.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const ROLES = ["processing", "notification", "purchase-analytics"] as const;

interface Proc {
  name: string;
  child: Deno.ChildProcess;
}

const say = (line: string) => console.error(`[start] ${line}`);
const procs: Proc[] = [];
let stopping = false;

const external = Deno.env.get("KAFKA_BROKERS");
const kafka = external ? null : await startKafka({
  port: 9092,
  dataDir: `${ROOT}.cache/kafka-data/9092`,
  say: (l) => say(l),
}).catch((error) => {
  say(error instanceof Error ? error.message : String(error));
  Deno.exit(1);
});
const brokers = external ?? kafka!.brokers;
say(external ? `using existing Kafka at ${brokers}` : `local Kafka at ${brokers}`);

function spawn(name: string, task: string, args: string[] = []): void {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", task, ...args],
    cwd: ROOT,
    env: { KAFKA_BROKERS: brokers },
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const proc = { name, child };
  procs.push(proc);
  prefix(child.stdout, name);
  prefix(child.stderr, name);
  child.status.then((status) => {
    if (stopping) return;
    say(`${name} exited with code ${status.code}; stopping everything`);
    void shutdown(1);
  });
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
  for (const p of procs) {
    try {
      p.child.kill("SIGTERM");
    } catch { /* already gone */ }
  }
  const grace = setTimeout(() => {
    for (const p of procs) {
      try {
        p.child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
  }, 10_000);
  await Promise.all(procs.map((p) => p.child.status));
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

spawn("gateway", "gateway");
for (const role of ROLES) spawn(role, "worker", ["--role", role]);
say(
  "gateway on http://127.0.0.1:8080 (PORT changes it) — try: curl -i -X POST " +
    `http://127.0.0.1:8080/orders -H 'content-type: application/json' ` +
    `-d '{"name":"Pizza","price":12990,"email":"cliente@example.cl"}'`,
);
say("web page: http://127.0.0.1:8080/ — API docs: http://127.0.0.1:8080/docs");
say("Ctrl-C stops everything");
