/**
 * The second report's own producer (`datasets/transmisor_datos_kafka.py`, kafka-python from PyPI)
 * writing its events, unchanged, to a topic named as its `DataTopic` on a three-node cluster, with
 * Despacho's purchase-analytics role reading that topic: the report's events are Despacho's input.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../lib/config.ts";
import { createKafkaClient, purchaseTopics } from "../../lib/kafka/mod.ts";
import { createLogger } from "../../lib/log.ts";
import {
  classifyPurchase,
  type PurchaseEvent,
  purchaseEvent,
  purchaseMessage,
  PurchaseSchema,
} from "../../lib/purchase.ts";
import { mergeStats, type PurchaseStats, reportOf } from "../../lib/windows.ts";
import { directCount, generatePurchases, readWords } from "../../datasets/purchases.ts";
import { startKafka } from "../../infra/kafka.ts";
import { ensureVenvPackage, runTool } from "../../infra/python.ts";
import {
  produce,
  readTopic,
  testClientName,
  topicEnv,
  uniqueName,
  until,
} from "../../infra/testing.ts";
import { run as runAnalytics } from "../purchase_analytics.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const WINDOW_MS = 10_000;
/**
 * The last windows close once the stream has been quiet this long: longer than the pause between
 * Despacho's two events and the report's producer starting (its Python, its client's bootstrap),
 * or the report's events would find their window closed and count as late.
 */
const IDLE_MS = 15_000;
/** Events the report's producer sends. */
const COUNT = 300;
/** The report's topic, its name given through configuration. */
const TOPIC = "DataTopic";
const KAFKA_PYTHON = "3.0.12";

const say = (line: string) => console.error(`[report-producer] ${line}`);

/** The venv's Python with kafka-python, or null after saying why it cannot be had. */
async function reportPython(): Promise<string | null> {
  try {
    return await ensureVenvPackage({
      venv: `${ROOT}.cache/report-venv`,
      pkg: "kafka-python",
      module: "kafka",
      version: KAFKA_PYTHON,
      prefix: "report-producer",
    }, say);
  } catch (error) {
    console.log(
      `The report's Python producer cannot run here (${
        (error as Error).message
      }): the same events are written by a Deno producer with no envelope and no event time`,
    );
    return null;
  }
}

/**
 * Runs the report's producer, or writes events of the same shape (no key that means anything, no
 * envelope, no event time) with Deno's producer when there is no Python for it.
 */
async function sendAsTheReport(brokers: string, python: string | null): Promise<"python" | "deno"> {
  if (python === null) {
    const events = generatePurchases(await readWords(), { count: COUNT, seed: 7, startMs: 0 });
    await produce(
      brokers,
      events.map(({ v: _v, type: _t, ts: _ts, ...bare }) => ({
        topic: TOPIC,
        key: "",
        value: JSON.stringify(bare),
      })),
    );
    return "deno";
  }
  const out = await Deno.makeTempFile({ prefix: "despacho-report-", suffix: ".txt" });
  const run = await runTool(python, [
    `${ROOT}datasets/transmisor_datos_kafka.py`,
    "--bootstrap-servers",
    brokers,
    "--topic",
    TOPIC,
    "--count",
    String(COUNT),
    "--interval",
    "0.01",
    "--seed",
    "7",
    "--out",
    out,
  ], { say, prefix: "report-producer", doing: `sending ${COUNT} events` });
  await Deno.remove(out).catch(() => {});
  assert.ok(run.success, `the report's producer failed: ${run.text.slice(-2000)}`);
  return "python";
}

/** Windows merged across partitions (the last record per window and partition wins), and totals. */
async function published(brokers: string, topic: string) {
  const records = await readTopic(brokers, topic, Number.MAX_SAFE_INTEGER, 4_000);
  const windows = new Map<string, Map<number, PurchaseStats>>();
  const totals = new Map<number, { stats: PurchaseStats; late: number; invalid: number }>();
  for (const r of records) {
    const v = JSON.parse(r.value);
    if (v.type === "PurchaseTotals") totals.set(v.partition, v);
    else {
      if (!windows.has(v.start)) windows.set(v.start, new Map());
      windows.get(v.start)!.set(v.partition, v.stats);
    }
  }
  const all = [...totals.values()];
  return {
    windows: new Map(
      [...windows].map(([s, parts]) => [s, reportOf(mergeStats(...parts.values()))]),
    ),
    totals: reportOf(mergeStats(...all.map((t) => t.stats))),
    late: all.reduce((n, t) => n + t.late, 0),
    invalid: all.reduce((n, t) => n + t.invalid, 0),
  };
}

Deno.test({
  name:
    "the second report's producer (Python, kafka-python, no key, no envelope, no event time) on three brokers, topic DataTopic: every purchase notified in the report's words with the shop's name, every visit counted, windows equal a direct count",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Installed first (pip, on a first run), so that nothing waits on it mid-stream.
    const python = await reportPython();
    const dataDir = await Deno.makeTempDir({ prefix: "despacho-report-cluster-" });
    const cluster = await startKafka({ nodes: 3, port: 0, dataDir, memoryData: true, say });
    const prefix = uniqueName("report");
    const env = {
      KAFKA_BROKERS: cluster.brokers,
      KAFKA_CLIENT: testClientName(),
      ...topicEnv(prefix),
      TOPIC_PURCHASES: TOPIC,
      TOPIC_PARTITIONS: "3",
      TOPIC_REPLICATION_FACTOR: "3",
      INSTANCE_ID: "report-1",
      ANALYTICS_WINDOW_MS: String(WINDOW_MS),
      ANALYTICS_LATENESS_MS: "2000",
      ANALYTICS_IDLE_MS: String(IDLE_MS),
      PURCHASE_CONSOLE: "off",
      STORE_NAME: "Falabella",
    };
    const config = loadConfig(env);
    const log = createLogger("report", "warn");
    const kafka = createKafkaClient(config, log);
    const stop = new AbortController();
    let role: Promise<void> | null = null;
    try {
      await kafka.ensureTopics(purchaseTopics(config), { timeoutMs: 120_000 });
      role = runAnalytics({ config, log, kafka, signal: stop.signal });
      // One of Despacho's own writers in the same stream, first: an event with its own time,
      // 1.5 s before its record's, and one without, whose time is its record's.
      const own = generatePurchases(await readWords(), { count: 2, seed: 3, startMs: 0 });
      const timed = { ...own[0]!, ts: new Date(Date.now() - 1_500).toISOString() };
      const { ts: _ts, ...untimed } = own[1]!;
      await produce(
        cluster.brokers,
        [timed, untimed].map((e) => ({
          topic: TOPIC,
          key: e.id,
          value: JSON.stringify(e),
        })),
      );
      const by = await sendAsTheReport(cluster.brokers, python);

      // What was written, as Despacho reads it: each event's time its own or its record's.
      const written = await readTopic(cluster.brokers, TOPIC, COUNT + 2, 120_000);
      assert.equal(written.length, COUNT + 2, "every event is in the topic");
      const raw = written.map((r) => JSON.parse(r.value));
      const parsed = written.map((r) => PurchaseSchema.safeParse(JSON.parse(r.value)));
      const refused = parsed.flatMap((p, i) =>
        p.success ? [] : [{ value: raw[i], issues: p.error.issues }]
      );
      assert.deepEqual(refused, [], "every event of the report is accepted");
      const events: PurchaseEvent[] = parsed.map((p, i) =>
        purchaseEvent(p.data!, written[i]!.timestamp)
      );
      if (by === "python") {
        const reports = raw.filter((v) => !("v" in v));
        assert.equal(reports.length, COUNT);
        assert.ok(reports.every((v) => !("ts" in v) && !("type" in v)), "no envelope, no time");
        assert.ok(written.filter((r) => r.key === null).length >= COUNT, "sent with no key");
        assert.ok(reports.some((v) => v.taps === ""), "some visits have an empty taps");
        assert.ok(reports.some((v) => /[^ -~]/.test(v.email)), "some addresses have accents");
      }
      const timedEvent = events.find((e) => e.id === timed.id)!;
      assert.equal(timedEvent.ts, timed.ts, "an event's own time wins over its record's");

      // Every purchase notified once, in the report's words, with the shop's name.
      const purchases = events.filter((e) => classifyPurchase(e) !== "visit");
      const notes = (await readTopic(
        cluster.brokers,
        env.TOPIC_PURCHASE_NOTIFICATIONS,
        purchases.length,
        120_000,
      )).map((r) => JSON.parse(r.value));
      const byId = Map.groupBy(notes as { id: string; text: string; to: string }[], (n) => n.id);
      const problems = purchases.flatMap((p) => {
        const got = byId.get(p.id) ?? [];
        const kind = classifyPurchase(p) as "short" | "long";
        const want = purchaseMessage(p, kind, "Falabella").text;
        if (got.length !== 1) return [`${p.id}: ${got.length} notifications`];
        return got[0]!.text === want && got[0]!.to === p.email ? [] : [`${p.id}: other words`];
      });
      assert.deepEqual(problems, []);
      assert.equal(notes.length, purchases.length);
      assert.match(notes[0]!.text, /en nuestra tienda en línea de Falabella\. Tu número de folio/);

      // Every visit counted, every window equal to a direct count by each event's time.
      const want = directCount(events, WINDOW_MS);
      const got = await until("every window closed and every event in the totals", async () => {
        const p = await published(cluster.brokers, env.TOPIC_PURCHASE_ANALYTICS);
        const closed = [...want.windows.keys()].every((start) => p.windows.has(start));
        return closed && p.totals.events >= want.totals.events ? p : undefined;
      }, 60_000 + IDLE_MS).catch(() => published(cluster.brokers, env.TOPIC_PURCHASE_ANALYTICS));
      assert.deepEqual(got.totals, want.totals);
      assert.ok(want.totals.visitsWithoutPurchase > 0);
      assert.deepEqual({ late: got.late, invalid: got.invalid }, { late: 0, invalid: 0 });
      assert.deepEqual([...got.windows.keys()].sort(), [...want.windows.keys()].sort());
      for (const [start, report] of want.windows) {
        assert.deepEqual(got.windows.get(start), report, `window ${start}`);
      }
    } finally {
      stop.abort();
      await role?.catch(() => {});
      await kafka.close();
      await cluster.remove();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
