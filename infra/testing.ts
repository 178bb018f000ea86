/**
 * Helpers for tests that need the real broker. One broker serves a whole `deno test` run:
 * `deno task test` starts it and passes `KAFKA_BROKERS`; a bare `deno test` starts one on first
 * use and stops it when the process ends.
 */
import { loadConfig } from "../lib/config.ts";
import { createKafkaClient, type KafkaClient, type KafkaClientName } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import { waitFor } from "../lib/wait.ts";
import { type RunningKafka, startKafka } from "./kafka.ts";
import { ACCESS_ENV } from "./test_access.ts";

let started: Promise<RunningKafka> | null = null;

/**
 * The brokers integration tests use: `KAFKA_BROKERS` when set, otherwise a broker started for
 * this test process.
 *
 * @returns `host:port[,host:port]`.
 */
export async function testBrokers(): Promise<string> {
  const fromEnv = Deno.env.get("KAFKA_BROKERS");
  if (fromEnv) return fromEnv;
  started ??= (async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "despacho-kafka-" });
    const k = await startKafka({
      port: 0,
      dataDir,
      memoryData: true,
    });
    // deno test has no teardown hook (its "unload" event does not reach us): a watchdog stops
    // the broker and deletes its data once this test process is gone.
    new Deno.Command("bash", {
      args: [
        "-c",
        'while kill -0 "$WATCH" 2>/dev/null; do sleep 1; done; kill -9 $KAFKA 2>/dev/null; ' +
        'sleep 1; rm -rf "$DATA" ${MEM:+"$MEM"}',
      ],
      env: {
        WATCH: String(Deno.pid),
        KAFKA: k.nodes.map((n) => n.pid()).join(" "),
        DATA: dataDir,
        MEM: k.memoryRoot ?? "",
      },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn().unref();
    return k;
  })();
  return (await started).brokers;
}

/**
 * The Kafka client library the tests use (`KAFKA_CLIENT`, else the configuration's default): the
 * integration tests run once per client in `deno task test`.
 */
export function testClientName(): KafkaClientName {
  return loadConfig({ KAFKA_CLIENT: Deno.env.get("KAFKA_CLIENT") }).KAFKA_CLIENT;
}

/**
 * A quiet Kafka client for a test's own producing, reading and topic set-up.
 *
 * @param brokers `host:port[,host:port]`.
 */
export function testKafka(brokers: string): KafkaClient {
  const config = loadConfig({
    KAFKA_BROKERS: brokers,
    KAFKA_CLIENT_ID: "test",
    KAFKA_CLIENT: testClientName(),
  });
  return createKafkaClient(config, createLogger("test", "error", () => {}));
}

/**
 * A topic prefix unique to one test, so tests never see each other's records.
 *
 * @param name A readable label.
 * @returns e.g. `t-orders-lx3k9a`.
 */
export function uniqueName(name: string): string {
  return `t-${name}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** A record as {@linkcode readTopic} gives it. */
export interface TopicRecord {
  key: string | null;
  value: string;
  partition: number;
  offset: string;
  headers: Record<string, string>;
  /** The record's timestamp, ms since the epoch. */
  timestamp: number;
}

/**
 * Reads every record of `topic` from the start, as a read_committed consumer sees them, until
 * `count` have arrived (then `settleMs` more, so that a surplus — a duplicate — shows) or
 * `timeoutMs` passes.
 *
 * @returns The records' keys and values as text, with partition, offset and headers.
 */
export async function readTopic(
  brokers: string,
  topic: string,
  count: number,
  timeoutMs = 30_000,
  settleMs = 1_000,
): Promise<TopicRecord[]> {
  const kafka = testKafka(brokers);
  const out: TopicRecord[] = [];
  const decoder = new TextDecoder();
  let done: () => void = () => {};
  const enough = new Promise<void>((r) => (done = r));
  const reader = kafka.reader({
    topics: [topic],
    onBatch: (batch) => {
      for (const r of batch.records) {
        out.push({
          key: r.key,
          value: r.value === null ? "" : decoder.decode(r.value),
          partition: r.partition,
          offset: r.offset,
          headers: r.headers,
          timestamp: r.timestamp,
        });
      }
      if (out.length >= count) done();
    },
  });
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reached = await Promise.race([
      enough.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (reached) await new Promise((r) => setTimeout(r, settleMs));
  } finally {
    await reader.stop();
    await kafka.close();
  }
  return out;
}

/**
 * Publishes records with an idempotent producer (acks=all) and closes it.
 *
 * @param brokers `host:port[,host:port]`.
 * @param records What to publish.
 */
export async function produce(
  brokers: string,
  records: readonly {
    topic: string;
    key: string;
    value: string;
    headers?: Record<string, string>;
  }[],
): Promise<void> {
  const kafka = testKafka(brokers);
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send(records);
  } finally {
    await producer.close();
    await kafka.close();
  }
}

/**
 * The environment of an integration test: the test brokers, the Kafka client under test, topics of
 * its own (named from `name`), the test credentials, then `extra`.
 *
 * @param name What the test is called (its topics' prefix, made unique).
 * @param extra Variables of this test, which win.
 */
export async function testEnv(
  name: string,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  return {
    KAFKA_BROKERS: await testBrokers(),
    KAFKA_CLIENT: testClientName(),
    ...topicEnv(uniqueName(name)),
    ...ACCESS_ENV,
    ...extra,
  };
}

/**
 * The environment that gives a test its own topics and consumer groups, all named after `prefix`.
 *
 * @param prefix From {@linkcode uniqueName}.
 */
export function topicEnv(prefix: string) {
  return {
    TOPIC_ORDER_REQUESTS: `${prefix}-requests`,
    TOPIC_ORDER_PROCESSING: `${prefix}-processing`,
    TOPIC_ORDER_NOTIFICATIONS: `${prefix}-notifications`,
    TOPIC_MAIL_RETRIES: `${prefix}-mail-retries`,
    TOPIC_PURCHASES: `${prefix}-purchases`,
    TOPIC_PURCHASE_NOTIFICATIONS: `${prefix}-purchase-notifications`,
    TOPIC_PURCHASE_ANALYTICS: `${prefix}-analytics`,
    TOPIC_PURCHASE_STATE: `${prefix}-state`,
    TOPIC_PURCHASE_MAIL_RETRIES: `${prefix}-purchase-mail-retries`,
    TOPIC_PURCHASE_MAIL: `${prefix}-purchase-mail`,
    TOPIC_DEAD_LETTER: `${prefix}-dlq`,
    TOPIC_ORDER_STATUS: `${prefix}-status`,
    TOPIC_ORDER_ERASURES: `${prefix}-erasures`,
    GROUP_ID_PREFIX: prefix,
    // One per test (a store never meets another broker's topic), under `.cache`: the one place a
    // gateway started as its deno.json task may write. Relative: tests and the processes they start
    // run in the project's root.
    ORDER_STORE_PATH: `.cache/test-order-stores/${prefix}.sqlite`,
  };
}

/**
 * Polls `probe` until it answers a value (not `undefined`), for up to `timeoutMs`; a probe that
 * throws counts as "not yet", and the last error is in the timeout's message.
 *
 * @param what What is awaited, for the message.
 * @param probe One look.
 * @param timeoutMs The ceiling. @default 60000
 * @returns The first value.
 * @throws {WaitTimeoutError} When the ceiling passes first.
 */
export function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  return waitFor(what, async () => {
    const value = await probe();
    return value === undefined ? { ready: false } : { ready: true, value };
    // Said every 10 s while it waits: a test stuck on a slow machine shows what it waits for.
  }, { timeoutMs, intervalMs: 100, say: (line) => console.error(line) });
}

/**
 * The permission flags of a Despacho process a test spawns (`deno run <flags> gateway/main.ts` or
 * `workers/main.ts`): loopback network, environment, reading, the host name, and writing as asked.
 *
 * @param write Where it may write: nowhere, `.cache` only (a gateway's order store), or anywhere
 * (an outbox or store in a temporary folder). @default "anywhere"
 * @returns The flags, for after `run`.
 */
export function processFlags(write: "nowhere" | ".cache" | "anywhere" = "anywhere"): string[] {
  return [
    "--allow-net=127.0.0.1",
    "--allow-env",
    "--allow-read",
    ...(write === "nowhere" ? [] : [write === ".cache" ? "--allow-write=.cache" : "--allow-write"]),
    "--allow-sys=hostname",
  ];
}
