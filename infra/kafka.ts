/**
 * Real Apache Kafka for this machine: jars from Maven Central (`infra/kafka/pom.xml`, resolved once
 * with `mvn` into `.cache/`), run on the local Java 17 in KRaft mode. One node, or a cluster of
 * three (each node broker and controller, as the second report's three brokers), all on 127.0.0.1.
 *
 * Used by `deno task start`, `deno task test`, `deno task bench` and the fault suite, and runnable
 * on its own:
 *
 * ```sh
 * deno task kafka                 # one node on 127.0.0.1:9092, Ctrl-C stops it
 * KAFKA_NODES=3 deno task kafka   # three nodes on 127.0.0.1:9092, :9093, :9094
 * ```
 *
 * Slow is not broken: on a 2-core machine with CPU steal a broker JVM has needed 45 s to format its
 * storage and 150 s to listen. Every wait here says what it waits for while it waits, and gives up
 * only after `timeoutMs` (`STARTUP_TIMEOUT_MS`, 10 minutes by default) with one sentence.
 * What makes a start cheaper on such a machine is on by default (`tuning: "small"`): fewer broker
 * threads, a C1-only JIT and the serial collector for the short-lived storage formatter, and a
 * class-data-sharing archive of the Kafka classes written when a broker first stops cleanly.
 */
import { createConnection, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { waitFor } from "../lib/wait.ts";
import {
  javaArgFile,
  makeSecureMaterial,
  type SecureMaterial,
  secureProperties,
} from "./kafka_secure.ts";

export type { SecureMaterial } from "./kafka_secure.ts";

/** The Kafka version `infra/kafka/pom.xml` resolves. */
export const KAFKA_VERSION = "4.4.0";

const ROOT = new URL("../", import.meta.url).pathname;
const CACHE = `${ROOT}.cache/kafka/${KAFKA_VERSION}`;
/** Class-data-sharing archive of the classes a broker loads (see {@linkcode startKafka}). */
const CDS_ARCHIVE = `${CACHE}/kafka.jsa`;
/** Version of the data folder layout; a folder of another layout is started afresh. */
const LAYOUT = 2;

/** Default ceiling of every start-up wait: `STARTUP_TIMEOUT_MS`, else 10 minutes. */
export const DEFAULT_START_TIMEOUT_MS = 600_000;

/** Options of {@linkcode startKafka}. */
export interface KafkaOptions {
  /** Nodes in the cluster, each a broker and a KRaft controller. @default 1 */
  nodes?: number;
  /**
   * Client port of the first node on 127.0.0.1; the others take the next ports. 0 picks free
   * ports. @default 9092
   */
  port?: number;
  /** Where data and logs go: a fresh folder starts an empty cluster, a used one restarts it. */
  dataDir: string;
  /** Progress lines ("resolving jars…", "still waiting…", "ready"). @default console.error */
  say?: (line: string) => void;
  /** Longest wait for the cluster to answer, in ms. @default {@linkcode DEFAULT_START_TIMEOUT_MS} */
  timeoutMs?: number;
  /**
   * `small`: settings for a small machine (see the module docs); `stock`: the JVM flags and
   * broker thread counts Despacho used before, kept to measure the difference. @default "small"
   */
  tuning?: "small" | "stock";
  /**
   * The JVM's garbage collector: G1 with a 20 ms pause goal (Kafka's own default), or the serial
   * collector (one thread, no concurrent work: what the JVM picks by itself on a machine under 2
   * CPUs). `deno task bench:kafka-start` measures both. @default "g1"
   */
  gc?: "g1" | "serial";
  /** Gives up the start: the nodes started so far are killed and the call rejects. */
  signal?: AbortSignal;
  /**
   * Keep the nodes' Kafka data on `/dev/shm` when the machine has that memory file system: a
   * broker fsyncs a few times per partition it creates and at every metadata commit (about 800
   * times during the end-to-end tests), which costs seconds where an fsync takes 25 ms. For
   * throw-away brokers only: call `remove()` when done. @default false
   */
  memoryData?: boolean;
  /**
   * A `SASL_SSL` client listener instead of `PLAINTEXT`: a CA and a broker certificate made for
   * the data folder, SCRAM users made at format time (one per role, `producer`, `admin`), and
   * the StandardAuthorizer (no ACL, no access; `admin` is a super user). See `kafka_secure.ts`.
   * A data folder keeps its choice: starting it with the other one starts it afresh.
   * @default false
   */
  secure?: boolean;
}

/** One node of a running cluster. */
export interface KafkaNode {
  /** `node.id`. */
  readonly id: number;
  /** Client port on 127.0.0.1. */
  readonly port: number;
  /** Where its log goes. */
  readonly logFile: string;
  /** The current process id, or null while stopped. */
  pid(): number | null;
  /** Sends `signal` (SIGKILL: a crash) and waits for the process to end. */
  kill(signal?: Deno.Signal): Promise<void>;
  /** Starts it again with the same ports and data; resolves once it answers clients. */
  start(): Promise<void>;
}

/** A running broker or cluster. */
export interface RunningKafka {
  /** `host:port[,host:port…]` for clients. */
  brokers: string;
  /** The nodes, by `node.id` order. */
  nodes: readonly KafkaNode[];
  /** The first node's process id (kept for callers of the one-node broker). */
  pid: number;
  /** The first node's log. */
  logFile: string;
  /** Ends every node (SIGTERM, SIGKILL after `graceMs`) and waits for them. */
  stop(graceMs?: number): Promise<void>;
  /** Kills every node and deletes the data folder and the memory data, if any. */
  remove(): Promise<void>;
  /** Where the Kafka data lives in memory (`/dev/shm/…`), or null when in the data folder. */
  memoryRoot: string | null;
  /** Settles when a node started by {@linkcode startKafka} exits, with its status. */
  exited: Promise<Deno.CommandStatus>;
  /** With `secure`: the CA file and each user's password file; else null. */
  secure: SecureMaterial | null;
}

/** The cluster's identity and ports, kept in the data folder so a restart finds the same. */
interface Layout {
  layout: number;
  clusterId: string;
  /** Where the nodes' Kafka data lives when not in the data folder (`/dev/shm/…`). */
  memoryRoot: string | null;
  /** Whether the client listener is `SASL_SSL` (see {@linkcode KafkaOptions.secure}). */
  secure?: boolean;
  nodes: { id: number; port: number; controllerPort: number }[];
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
  ], (s) => say(`kafka: still resolving jars with mvn: ${s} s so far`));
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
 * The ceiling of start-up waits in infrastructure code (brokers, child processes):
 * `STARTUP_TIMEOUT_MS` when set to a whole number of at least 1000, else the default.
 */
export function startupTimeoutMs(): number {
  let raw: string | undefined;
  try {
    raw = Deno.env.get("STARTUP_TIMEOUT_MS");
  } catch { /* no env permission: the default */ }
  const n = Number(raw);
  return raw && Number.isInteger(n) && n >= 1000 ? n : DEFAULT_START_TIMEOUT_MS;
}

/**
 * Starts a KRaft broker (`nodes: 1`) or cluster on 127.0.0.1 and waits until every node answers
 * clients, saying every 10 s what it is waiting for.
 *
 * A cluster of three gets the settings of a durable one: replication factor 3 for new topics and
 * Kafka's internal topics, `min.insync.replicas=2`.
 *
 * @param options Nodes, port, data folder, tuning, ceiling.
 * @returns The running cluster.
 * @throws {Error} When Java or Maven is missing, formatting fails, a node exits while starting, or
 * the cluster does not answer within `timeoutMs` (the last log lines are in the message).
 */
export async function startKafka(options: KafkaOptions): Promise<RunningKafka> {
  // Long on purpose: a cluster start in order: jars, layout, certificates, nodes, wait.
  const say = options.say ?? console.error;
  const count = options.nodes ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > 9) {
    throw new RangeError(
      `Cannot start Kafka: nodes must be a whole number from 1 to 9: current value is ${count}`,
    );
  }
  const timeoutMs = options.timeoutMs ?? startupTimeoutMs();
  const tuning = options.tuning ?? "small";
  const libs = await ensureKafkaJars(say);
  const dir = options.dataDir;
  const layout = await prepareLayout(
    dir,
    count,
    options.port ?? 9092,
    options.memoryData === true && await memoryFsUsable(),
    options.secure === true,
    say,
  );
  const secure = layout.secure === true ? await makeSecureMaterial(`${dir}/secure`, say) : null;
  // JVM heap per node (a broker's RSS here reached about 1 GiB with its off-heap memory).
  const heap = count === 1 ? "768m" : "512m";
  const cds = tuning === "small" ? await cdsFlags() : { use: [], create: null };

  const nodes = layout.nodes.map((n) => {
    const home = `${dir}/node-${n.id}`;
    const data = layout.memoryRoot === null ? `${home}/data` : `${layout.memoryRoot}/node-${n.id}`;
    return { ...n, home, data, props: `${home}/server.properties`, logFile: `${home}/kafka.log` };
  });
  for (const n of nodes) {
    await Deno.mkdir(n.home, { recursive: true });
    await Deno.writeTextFile(
      n.props,
      serverProperties(n, layout, tuning, secure),
    );
    if (secure !== null) await Deno.chmod(n.props, 0o600);
  }
  // Deno may not look into /dev (it asks for all permissions there): the formatter and the broker
  // create the data folders, and `test` tells whether a node is formatted.
  const unformatted = [];
  for (const n of nodes) {
    const meta = `${n.data}/meta.properties`;
    const formatted = n.data.startsWith("/dev/")
      ? await shell("test", ["-f", meta])
      : await exists(meta);
    if (!formatted) unformatted.push(n);
  }
  if (unformatted.length > 0) {
    say(`kafka: formatting storage of ${unformatted.length} node(s) in ${dir}`);
    const started = Date.now();
    await Promise.all(unformatted.map(async (n) => {
      const main = [
        "kafka.tools.StorageTool",
        "format",
        `--cluster-id=${layout.clusterId}`,
        "-c",
        n.props,
      ];
      const fmt = await run(
        "java",
        [
          ...(tuning === "small"
            ? ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData", ...cds.use]
            : []),
          ...classpath(libs),
          ...(secure === null ? main : [
            await javaArgFile(`${secure.dir}/format-${n.id}.args`, [
              ...main,
              // The SCRAM users exist from the first metadata record: no unauthenticated window.
              ...secure.scramArgs,
            ]),
          ]),
        ],
        (s) => say(`kafka: still formatting node ${n.id}: ${s} s so far`),
      );
      if (!fmt.success) {
        throw new Error(`Cannot format Kafka storage in ${n.home}: ${fmt.text.slice(-2000)}`);
      }
    }));
    say(`kafka: formatted in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  let createArchive = cds.create;
  const handles = nodes.map((n) => {
    let child: Deno.ChildProcess | null = null;
    let archive: string | null = null;
    const spawn = () => {
      // The first node of the first start without an archive writes one when it stops cleanly.
      archive = createArchive;
      createArchive = null;
      const extra = archive === null ? cds.use : [`-XX:ArchiveClassesAtExit=${archive}`];
      child = spawnNode(n.props, n.logFile, libs, heap, options.gc ?? "g1", tuning, extra);
      const mine = child;
      const writing = archive;
      mine.status.then((status) => {
        if (child === mine) child = null;
        if (writing !== null) void adoptArchive(writing, status);
      });
      return mine;
    };
    const node: KafkaNode & { spawn: () => Deno.ChildProcess; current: () => typeof child } = {
      id: n.id,
      port: n.port,
      logFile: n.logFile,
      pid: () => child?.pid ?? null,
      current: () => child,
      spawn,
      async kill(signal = "SIGKILL") {
        const c = child;
        if (c === null) return;
        try {
          c.kill(signal);
        } catch { /* gone already */ }
        await c.status;
      },
      async start() {
        if (child !== null) return;
        const c = spawn();
        await untilAnswering([{ id: n.id, port: n.port, logFile: n.logFile, child: c }]);
      },
    };
    return node;
  });

  async function untilAnswering(
    waiting: { id: number; port: number; logFile: string; child: Deno.ChildProcess }[],
  ): Promise<void> {
    const ports = waiting.map((w) => `127.0.0.1:${w.port}`).join(", ");
    let gone: { id: number; status: Deno.CommandStatus } | null = null;
    for (const w of waiting) w.child.status.then((status) => (gone ??= { id: w.id, status }));
    const up = new Set<number>();
    try {
      await waitFor(
        `Kafka on ${ports} to answer`,
        async () => {
          if (gone !== null) {
            const w = waiting.find((x) => x.id === gone!.id)!;
            const log = await tail(w.logFile, 3000);
            return { ready: false, fatal: new NodeExited(w.id, gone.status.code, log) };
          }
          for (const w of waiting) {
            if (!up.has(w.id) && await brokerAnswers(w.port, secure !== null)) up.add(w.id);
          }
          if (up.size === waiting.length) return { ready: true, value: undefined };
          const slow = waiting.find((w) => !up.has(w.id))!;
          const last = (await tail(slow.logFile, 400)).trim().split("\n").pop()
            ?.replace(/^\[[^\]]*\] /, "") ?? "";
          return {
            ready: false,
            why: `${up.size}/${waiting.length} answering; node ${slow.id}, pid ${slow.child.pid}${
              last ? `, last log line: ${last.slice(0, 200)}` : ", nothing logged yet"
            }`,
          };
        },
        {
          timeoutMs,
          intervalMs: 250,
          progressMs: 10_000,
          say: (l) => say(`kafka: ${l}`),
          ...(options.signal ? { signal: options.signal } : {}),
        },
      );
    } catch (error) {
      for (const w of waiting) {
        try {
          w.child.kill("SIGKILL");
        } catch { /* gone */ }
      }
      if (error instanceof NodeExited || options.signal?.aborted) throw error;
      const logs = await Promise.all(waiting.map((w) => tail(w.logFile, 1500)));
      throw new Error(
        `Cannot start Kafka on ${ports}: ${(error as Error).message}; log tail: ${logs.join("\n")}`,
      );
    }
  }

  const started = Date.now();
  const children = handles.map((h) => ({
    id: h.id,
    port: h.port,
    logFile: h.logFile,
    child: h.spawn(),
  }));
  say(
    `kafka: starting ${count === 1 ? "broker" : `${count}-node cluster`} ${KAFKA_VERSION} on ${
      children.map((c) => `127.0.0.1:${c.port}`).join(",")
    } (pid ${children.map((c) => c.child.pid).join(",")}, log ${
      count === 1 ? children[0]!.logFile : `${dir}/node-*/kafka.log`
    })`,
  );
  await untilAnswering(children);
  const brokers = handles.map((h) => `127.0.0.1:${h.port}`).join(",");
  say(`kafka: ready on ${brokers} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return {
    brokers,
    nodes: handles,
    pid: children[0]!.child.pid,
    logFile: handles[0]!.logFile,
    exited: Promise.race(children.map((c) => c.child.status)),
    memoryRoot: layout.memoryRoot,
    secure,
    async remove() {
      await Promise.all(handles.map((h) => h.kill("SIGKILL")));
      if (layout.memoryRoot !== null) await shell("rm", ["-rf", layout.memoryRoot]);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
    async stop(graceMs = 30_000) {
      const running = handles.map((h) => h.current()).filter((c) => c !== null);
      for (const c of running) {
        try {
          c.kill("SIGTERM");
        } catch { /* gone */ }
      }
      const slow = setTimeout(() => say("kafka: still stopping…"), 10_000);
      const timer = setTimeout(() => {
        for (const c of running) {
          try {
            c.kill("SIGKILL");
          } catch { /* gone */ }
        }
      }, graceMs);
      await Promise.all(running.map((c) => c.status));
      clearTimeout(timer);
      clearTimeout(slow);
    },
  };
}

/** A node exited while the cluster was starting. */
class NodeExited extends Error {
  constructor(id: number, code: number, log: string) {
    super(`Cannot start Kafka: node ${id} exited with code ${code} while starting: ${log}`);
    this.name = "NodeExited";
  }
}

/**
 * Reads the data folder's layout, or makes a new one (new cluster id and ports). A folder of
 * another layout or node count is emptied first: it is a local cache, never a user's data.
 */
async function prepareLayout(
  dir: string,
  count: number,
  port: number,
  memory: boolean,
  secure: boolean,
  say: (line: string) => void,
): Promise<Layout> {
  const file = `${dir}/cluster.json`;
  try {
    const found = JSON.parse(await Deno.readTextFile(file)) as Layout;
    if (
      found.layout === LAYOUT && found.nodes.length === count &&
      (found.memoryRoot !== null) === memory && (found.secure === true) === secure
    ) return found;
    say(`kafka: ${dir} holds another cluster layout; starting it afresh`);
    if (found.memoryRoot) await shell("rm", ["-rf", found.memoryRoot]);
  } catch { /* new folder */ }
  await Deno.mkdir(dir, { recursive: true });
  for await (const entry of Deno.readDir(dir)) {
    await Deno.remove(`${dir}/${entry.name}`, { recursive: true });
  }
  const nodes = [];
  for (let i = 0; i < count; i++) {
    nodes.push({
      id: i + 1,
      port: port === 0 ? await freePort() : port + i,
      controllerPort: await freePort(),
    });
  }
  const id = clusterId();
  const memoryRoot = memory ? `/dev/shm/despacho-kafka-${id}` : null;
  const layout: Layout = { layout: LAYOUT, clusterId: id, memoryRoot, secure, nodes };
  await Deno.writeTextFile(file, JSON.stringify(layout, null, 2));
  return layout;
}

/** One node's `server.properties`. */
function serverProperties(
  node: { id: number; port: number; controllerPort: number; data: string },
  layout: Layout,
  tuning: "small" | "stock",
  secure: SecureMaterial | null,
): string {
  const replicas = Math.min(3, layout.nodes.length);
  const minIsr = replicas === 1 ? 1 : 2;
  return [
    "process.roles=broker,controller",
    `node.id=${node.id}`,
    `controller.quorum.voters=${
      layout.nodes.map((n) => `${n.id}@127.0.0.1:${n.controllerPort}`).join(",")
    }`,
    ...(secure === null
      ? [
        `listeners=PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${node.port}`,
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
      ]
      : secureProperties(secure, node)),
    "controller.listener.names=CONTROLLER",
    `log.dirs=${node.data}`,
    `default.replication.factor=${replicas}`,
    `min.insync.replicas=${minIsr}`,
    `offsets.topic.replication.factor=${replicas}`,
    "offsets.topic.num.partitions=5",
    `transaction.state.log.replication.factor=${replicas}`,
    `transaction.state.log.min.isr=${minIsr}`,
    "transaction.state.log.num.partitions=5",
    "group.initial.rebalance.delay.ms=0",
    // A broker that stops answering is fenced after 3 s of missed heartbeats (every 500 ms), not
    // Kafka's 9 s: its partitions' leadership moves to a live replica that much sooner, and writes
    // waiting for it are acknowledged instead of timing out. When the node that died was also the
    // active controller, a new one is elected first, and it gives every broker a fresh session
    // (so the dead one is fenced a full session later): its voters start an election after 1 s
    // without a fetch from the leader (Kafka's 2 s; 1 s is the floor KIP-1236 names, twice the
    // leader's longest fetch wait) and a vote lasts at most 500 ms (Kafka's 1 s).
    ...(layout.nodes.length > 1
      ? [
        "broker.session.timeout.ms=3000",
        "broker.heartbeat.interval.ms=500",
        "controller.quorum.fetch.timeout.ms=1000",
        "controller.quorum.election.timeout.ms=500",
        "controller.quorum.election.backoff.max.ms=500",
      ]
      : []),
    "num.partitions=1",
    "auto.create.topics.enable=false",
    "log.flush.interval.messages=9223372036854775807",
    ...(tuning === "small"
      ? [
        // Two cores: Kafka's defaults (3 network, 8 I/O, 10 background threads, a no-op
        // metadata record every 500 ms) are sized for servers.
        "num.network.threads=2",
        "num.io.threads=2",
        "background.threads=2",
        "num.recovery.threads.per.data.dir=1",
        "num.replica.fetchers=1",
        "group.coordinator.threads=1",
        "share.coordinator.threads=1",
        "metadata.max.idle.interval.ms=5000",
      ]
      : []),
  ].join("\n") + "\n";
}

function classpath(libs: string): string[] {
  return [`-Dlog4j2.configurationFile=${ROOT}infra/kafka/log4j2.properties`, "-cp", `${libs}/*`];
}

function spawnNode(
  props: string,
  logFile: string,
  libs: string,
  heap: string,
  gc: "g1" | "serial",
  tuning: "small" | "stock",
  extra: readonly string[],
): Deno.ChildProcess {
  const log = Deno.openSync(logFile, { create: true, append: true });
  const child = new Deno.Command("java", {
    args: [
      `-Xmx${heap}`,
      `-Xms${heap}`,
      ...(gc === "g1" ? ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"] : ["-XX:+UseSerialGC"]),
      "-Djava.awt.headless=true",
      ...(tuning === "small"
        ? [
          "-XX:-UsePerfData",
          "-XX:+ExitOnOutOfMemoryError",
          "-Djava.security.egd=file:/dev/urandom",
        ]
        : []),
      ...extra,
      ...classpath(libs),
      "kafka.Kafka",
      props,
    ],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  // Written chunk by chunk as they come: piped into `log.writable`, nothing reached the file while
  // the node ran (seen on Deno 2.9.6), and stderr, piped second into the same stream, was refused
  // as locked and never read.
  Promise.allSettled([appendAll(child.stdout, log), appendAll(child.stderr, log)]).finally(() => {
    try {
      log.close();
    } catch { /* already closed */ }
  });
  return child;
}

/** Appends what `stream` yields to `file` as it comes (a node's stdout and stderr to its log). */
export async function appendAll(
  stream: ReadableStream<Uint8Array>,
  file: Deno.FsFile,
): Promise<void> {
  for await (const chunk of stream) {
    for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
  }
}

/**
 * The class-data-sharing flags: use the archive when there is one; otherwise name a fresh file
 * for the first broker to write its loaded classes to when it exits (a clean stop only).
 */
async function cdsFlags(): Promise<{ use: string[]; create: string | null }> {
  if (await exists(CDS_ARCHIVE)) {
    return { use: [`-XX:SharedArchiveFile=${CDS_ARCHIVE}`], create: null };
  }
  return { use: [], create: `${CDS_ARCHIVE}.${Deno.pid}.${Date.now()}.part` };
}

/** Moves a written archive into place when its broker stopped by itself and nobody was first. */
async function adoptArchive(part: string, status: Deno.CommandStatus): Promise<void> {
  // SIGKILL may cut the dump short: only a broker that ended on its own wrote a whole archive.
  const whole = status.signal === null || status.signal === undefined;
  try {
    if (whole && (await Deno.stat(part)).size > 0 && !await exists(CDS_ARCHIVE)) {
      await Deno.rename(part, CDS_ARCHIVE);
      return;
    }
  } catch { /* not written */ }
  await Deno.remove(part).catch(() => {});
}

/**
 * A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 characters), never
 * starting with "-".
 *
 * @param random 16 random bytes. @default crypto.getRandomValues
 */
export function clusterId(
  random: () => Uint8Array = () => crypto.getRandomValues(new Uint8Array(16)),
): string {
  for (;;) {
    const id = btoa(String.fromCharCode(...random())).replaceAll("+", "-").replaceAll("/", "_")
      .replace(/=+$/, "");
    // As Kafka's own Uuid does: one starting with "-" would read as an option on a command line.
    if (!id.startsWith("-")) return id;
  }
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
 * not just listening). Over TLS when `tls` (a SASL listener answers ApiVersions before the
 * login); the certificate is not checked: this only asks whether the broker serves.
 */
function brokerAnswers(port: number, tls = false): Promise<boolean> {
  return new Promise((resolve) => {
    const socket: Socket = tls
      ? tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false })
      : createConnection({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.on("error", () => done(false));
    socket.on(tls ? "secureConnect" : "connect", () => {
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

/** Whether `/dev/shm` is a folder this process can write in. */
function memoryFsUsable(): Promise<boolean> {
  return shell("test", ["-d", "/dev/shm", "-a", "-w", "/dev/shm"]);
}

/** Runs a small command; true when it exits with 0. */
async function shell(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null", stdin: "null" })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

async function tail(path: string, chars: number): Promise<string> {
  return await Deno.readTextFile(path).then((t) => t.slice(-chars), () => "");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs a command to its end, saying every 15 s how long it has run. */
async function run(
  cmd: string,
  args: string[],
  slow: (seconds: number) => void = () => {},
): Promise<{ success: boolean; code: number; text: string }> {
  const started = Date.now();
  const ticker = setInterval(() => slow(Math.round((Date.now() - started) / 1000)), 15_000);
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
  } finally {
    clearInterval(ticker);
  }
}

if (import.meta.main) {
  const port = Number(Deno.env.get("KAFKA_PORT") ?? "9092");
  const nodes = Number(Deno.env.get("KAFKA_NODES") ?? "1");
  const secure = Deno.env.get("KAFKA_SECURE") === "1";
  const kafka = await startKafka({
    nodes,
    port,
    dataDir: `${ROOT}.cache/kafka-data/${port}${nodes === 1 ? "" : `x${nodes}`}${
      secure ? "-secure" : ""
    }`,
    secure,
  });
  console.error(`kafka: running; KAFKA_BROKERS=${kafka.brokers}; Ctrl-C stops it`);
  if (kafka.secure) {
    console.error(
      `kafka: SASL_SSL; CA ${kafka.secure.caFile}; passwords in ${kafka.secure.dir}/<user>.password`,
    );
  }
  const stop = () => kafka.stop().then(() => Deno.exit(0));
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const status = await kafka.exited;
  console.error(`kafka: a node exited with code ${status.code}; stopping the others`);
  await kafka.stop();
  Deno.exit(1);
}

/**
 * The active KRaft controller as the nodes' logs tell it: the node whose quorum last became leader
 * (the highest epoch among the "Completed transition to Leader(… epoch=N …)" lines that
 * `infra/kafka/log4j2.properties` keeps).
 *
 * @param logs Each node's id and log text.
 * @returns Its `node.id`, or null when no log names a leader.
 */
export function activeController(logs: readonly { id: number; text: string }[]): number | null {
  let best: { id: number; epoch: number } | null = null;
  for (const { id, text } of logs) {
    for (const m of text.matchAll(/Completed transition to Leader\([^\n]*?\bepoch=(\d+)/g)) {
      const epoch = Number(m[1]);
      if (best === null || epoch > best.epoch) best = { id, epoch };
    }
  }
  return best?.id ?? null;
}
