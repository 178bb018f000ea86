/**
 * A real Apache Kafka broker for this machine: jars from Maven Central (`infra/kafka/pom.xml`,
 * resolved once with `mvn` into `.cache/`), run on the local Java 17 in KRaft mode
 * (one process is broker and controller).
 *
 * Used by `deno task start`, `deno task test` and `deno task bench`, and runnable on its own:
 *
 * ```sh
 * deno task kafka            # foreground broker on 127.0.0.1:9092, Ctrl-C stops it
 * ```
 */
import { createConnection } from "node:net";

/** The Kafka version `infra/kafka/pom.xml` resolves. */
export const KAFKA_VERSION = "4.4.0";

const ROOT = new URL("../", import.meta.url).pathname;
const CACHE = `${ROOT}.cache/kafka/${KAFKA_VERSION}`;

/** Options of {@linkcode startKafka}. */
export interface KafkaOptions {
  /** Client port on 127.0.0.1; 0 picks a free one. @default 9092 */
  port?: number;
  /** Where data and logs go: a fresh folder starts an empty cluster, a used one restarts it. */
  dataDir: string;
  /** JVM heap. @default "768m" */
  heap?: string;
  /** Progress lines ("resolving jars…", "broker ready"). @default console.error */
  say?: (line: string) => void;
}

/** A running broker. */
export interface RunningKafka {
  /** `host:port` for clients. */
  brokers: string;
  /** The broker's process id. */
  pid: number;
  /** Where its log goes. */
  logFile: string;
  /** Ends the broker (SIGTERM, then SIGKILL after `graceMs`) and waits for it. */
  stop(graceMs?: number): Promise<void>;
  /** Settles when the process exits. */
  exited: Promise<Deno.CommandStatus>;
}

/**
 * Resolves the broker's jars with Maven on first use (cached afterwards).
 *
 * @param say Progress output.
 * @returns The folder holding the jars.
 * @throws {Error} When `mvn` or `java` is missing or resolution fails, naming what to install.
 */
export async function ensureKafkaJars(
  say: (line: string) => void = console.error,
): Promise<string> {
  const libs = `${CACHE}/libs`;
  try {
    if ([...Deno.readDirSync(libs)].some((e) => e.name.startsWith("kafka_2.13-"))) return libs;
  } catch { /* not resolved yet */ }
  say(`kafka: resolving Apache Kafka ${KAFKA_VERSION} jars from Maven Central (first run only)…`);
  const out = await run("mvn", [
    "-q",
    "-B",
    "-f",
    `${ROOT}infra/kafka/pom.xml`,
    `-Dkafka.version=${KAFKA_VERSION}`,
    "dependency:copy-dependencies",
    "-DincludeScope=runtime",
    `-DoutputDirectory=${libs}.part`,
  ]);
  if (!out.success) {
    throw new Error(
      `Cannot resolve Kafka jars with mvn: exit code ${out.code}: ${out.text.slice(-2000)}`,
    );
  }
  await Deno.remove(libs, { recursive: true }).catch(() => {});
  await Deno.rename(`${libs}.part`, libs);
  say(`kafka: jars cached in ${libs}`);
  return libs;
}

/**
 * Starts a single-node KRaft broker on 127.0.0.1 and waits until it accepts clients.
 *
 * @param options Port, data folder, heap.
 * @returns The running broker.
 * @throws {Error} When the broker does not come up within 60 s (its log's tail is in the message).
 */
export async function startKafka(options: KafkaOptions): Promise<RunningKafka> {
  const say = options.say ?? console.error;
  const libs = await ensureKafkaJars(say);
  const port = options.port === 0 ? await freePort() : options.port ?? 9092;
  const controllerPort = await freePort();
  const dir = options.dataDir;
  await Deno.mkdir(`${dir}/data`, { recursive: true });
  const formatted = await exists(`${dir}/data/meta.properties`);
  const props = [
    "process.roles=broker,controller",
    "node.id=1",
    `controller.quorum.bootstrap.servers=127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    "controller.listener.names=CONTROLLER",
    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    `log.dirs=${dir}/data`,
    "offsets.topic.replication.factor=1",
    "offsets.topic.num.partitions=5",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "transaction.state.log.num.partitions=5",
    "group.initial.rebalance.delay.ms=0",
    "num.partitions=1",
    "auto.create.topics.enable=false",
    "log.flush.interval.messages=9223372036854775807",
  ].join("\n") + "\n";
  await Deno.writeTextFile(`${dir}/server.properties`, props);
  const java = (args: string[]) => [
    `-Dlog4j2.configurationFile=${ROOT}infra/kafka/log4j2.properties`,
    "-cp",
    `${libs}/*`,
    ...args,
  ];
  if (!formatted) {
    const fmt = await run(
      "java",
      java([
        "kafka.tools.StorageTool",
        "format",
        "--standalone",
        "-t",
        clusterId(),
        "-c",
        `${dir}/server.properties`,
      ]),
    );
    if (!fmt.success) {
      throw new Error(`Cannot format Kafka storage in ${dir}: ${fmt.text.slice(-2000)}`);
    }
  }
  const logFile = `${dir}/kafka.log`;
  const log = await Deno.open(logFile, { create: true, append: true });
  const child = new Deno.Command("java", {
    args: [
      `-Xmx${options.heap ?? "768m"}`,
      `-Xms${options.heap ?? "768m"}`,
      "-XX:+UseG1GC",
      "-XX:MaxGCPauseMillis=20",
      "-Djava.awt.headless=true",
      ...java(["kafka.Kafka", `${dir}/server.properties`]),
    ],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const writer = log.writable;
  child.stdout.pipeTo(writer, { preventClose: true }).catch(() => {});
  child.stderr.pipeTo(log.writable, { preventClose: true }).catch(() => {});
  const exited = child.status;
  exited.finally(() => {
    try {
      log.close();
    } catch { /* already closed */ }
  });
  say(
    `kafka: starting broker ${KAFKA_VERSION} on 127.0.0.1:${port} (pid ${child.pid}, log ${logFile})`,
  );
  const deadline = Date.now() + 60_000;
  let up = false;
  let exitedEarly = false;
  exited.then(() => (exitedEarly = true));
  while (!up && !exitedEarly && Date.now() < deadline) {
    up = await brokerAnswers(port);
    if (!up) await new Promise((r) => setTimeout(r, 250));
  }
  if (!up) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    const tail = await Deno.readTextFile(logFile).then((t) => t.slice(-3000), () => "");
    throw new Error(`Cannot start Kafka on port ${port}: not ready after 60 s: ${tail}`);
  }
  say(`kafka: broker ready on 127.0.0.1:${port}`);
  return {
    brokers: `127.0.0.1:${port}`,
    pid: child.pid,
    logFile,
    exited,
    async stop(graceMs = 10_000) {
      try {
        child.kill("SIGTERM");
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 characters). */
function clusterId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

/** Asks a free port of the kernel. */
export async function freePort(): Promise<number> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = l.addr as Deno.NetAddr;
  l.close();
  await Promise.resolve();
  return port;
}

/**
 * True when something on `port` answers a Kafka ApiVersions request (the broker is serving,
 * not just listening).
 */
function brokerAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => {
      // ApiVersions v0 request: size, api_key 18, version 0, correlation id 1, client id "p".
      const body = new Uint8Array([0, 18, 0, 0, 0, 0, 0, 1, 0, 1, 0x70]);
      const frame = new Uint8Array(4 + body.length);
      new DataView(frame.buffer).setInt32(0, body.length);
      frame.set(body, 4);
      socket.write(frame);
    });
    socket.on("data", () => done(true));
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function run(
  cmd: string,
  args: string[],
): Promise<{ success: boolean; code: number; text: string }> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).output();
    const dec = new TextDecoder();
    return {
      success: out.success,
      code: out.code,
      text: dec.decode(out.stdout) + dec.decode(out.stderr),
    };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`Cannot run ${cmd}: not installed (Kafka needs Java 17 and Maven on PATH)`);
    }
    throw error;
  }
}

if (import.meta.main) {
  const port = Number(Deno.env.get("KAFKA_PORT") ?? "9092");
  const kafka = await startKafka({ port, dataDir: `${ROOT}.cache/kafka-data/${port}` });
  console.error(`kafka: running; KAFKA_BROKERS=${kafka.brokers}; Ctrl-C stops it`);
  const stop = () => kafka.stop().then(() => Deno.exit(0));
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const status = await kafka.exited;
  console.error(`kafka: broker exited with code ${status.code}`);
  Deno.exit(status.code === 0 ? 0 : 1);
}
