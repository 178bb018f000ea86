import assert from "node:assert/strict";
import { loadConfig } from "../../lib/config.ts";
import { createKafkaClient, despachoTopics } from "../../lib/kafka/mod.ts";
import { createLogger } from "../../lib/log.ts";
import { classifyPurchase, type PurchaseEvent } from "../../lib/purchase.ts";
import { mergeStats, type PurchaseStats, reportOf } from "../../lib/windows.ts";
import { directCount, generatePurchases, readWords } from "../../datasets/purchases.ts";
import { spawnDeno } from "../../infra/process.ts";
import {
  produce,
  readTopic,
  testBrokers,
  testClientName,
  topicEnv,
  uniqueName,
  until,
} from "../../infra/testing.ts";
import { run as runAnalytics } from "../purchase_analytics.ts";
import { run as runNotification } from "../notification.ts";
import { startSmtp } from "../../infra/smtp.ts";

const WINDOW_MS = 10_000;
const IDLE_MS = 3_000;
const MAIN = new URL("../main.ts", import.meta.url).pathname;

function environment(brokers: string) {
  const prefix = uniqueName("purchases");
  return {
    KAFKA_BROKERS: brokers,
    KAFKA_CLIENT: testClientName(),
    KAFKA_SESSION_TIMEOUT_MS: "10000",
    ...topicEnv(prefix),
    TOPIC_PARTITIONS: "3",
    INSTANCE_ID: "analytics-1",
    ANALYTICS_WINDOW_MS: String(WINDOW_MS),
    ANALYTICS_LATENESS_MS: "2000",
    // The last windows close when the stream has been quiet this long. Short enough for a quick
    // test, long enough that a busy machine's pause between two batches (a rebalance, a restore,
    // both cores taken) is not taken for the end of the stream: at 500 ms, that closed windows
    // early on a loaded machine and counted their later events as late.
    ANALYTICS_IDLE_MS: String(IDLE_MS),
    PURCHASE_CONSOLE: "off",
    LOG_LEVEL: "warn",
  };
}

/** What the role must publish, computed directly from the events. */
const expected = (events: readonly PurchaseEvent[]) => directCount(events, WINDOW_MS);

/** Reads the analytics topic: windows merged across partitions (last record per window and partition wins), and totals. */
async function published(brokers: string, topic: string) {
  const records = await readTopic(brokers, topic, Number.MAX_SAFE_INTEGER, 4_000);
  const windows = new Map<string, Map<number, PurchaseStats>>();
  const totals = new Map<number, PurchaseStats>();
  for (const r of records) {
    const v = JSON.parse(r.value);
    if (v.type === "PurchaseTotals") totals.set(v.partition, v.stats);
    else {
      if (!windows.has(v.start)) windows.set(v.start, new Map());
      windows.get(v.start)!.set(v.partition, v.stats);
    }
  }
  return {
    windows: new Map(
      [...windows].map(([s, parts]) => [s, reportOf(mergeStats(...parts.values()))]),
    ),
    totals: reportOf(mergeStats(...totals.values())),
  };
}

/**
 * What the role published once every window of `events` is closed (the last ones by the idle
 * flush) and the totals count every event; the comparison itself is the caller's.
 */
async function publishedWhenClosed(
  brokers: string,
  topic: string,
  events: readonly PurchaseEvent[],
) {
  const want = expected(events);
  return await until("every window closed and every event in the totals", async () => {
    const got = await published(brokers, topic);
    const closed = [...want.windows.keys()].every((start) => got.windows.has(start));
    return closed && got.totals.events >= want.totals.events ? got : undefined;
  }, 60_000 + IDLE_MS).catch(() => published(brokers, topic));
}

/** `worker --role purchase-analytics` as its own process, ready once it analyses. */
function startRole(env: Record<string, string>, instance: string) {
  const flags = ["--allow-net=127.0.0.1", "--allow-env", "--allow-read", "--allow-sys=hostname"];
  return spawnDeno(
    `purchase-analytics-${instance}`,
    ["run", ...flags, MAIN, "--role", "purchase-analytics"],
    { ...env, INSTANCE_ID: instance, LOG_LEVEL: "info" },
    /"analysing purchases"/,
    { counts: { restored: /"restored window state"/ } },
  );
}

async function publish(brokers: string, topic: string, events: readonly PurchaseEvent[]) {
  await produce(brokers, events.map((e) => ({ topic, key: e.id, value: JSON.stringify(e) })));
}

async function assertExactlyOnceNotifications(
  brokers: string,
  topic: string,
  events: readonly PurchaseEvent[],
) {
  const purchases = events.filter((e) => classifyPurchase(e) !== "visit");
  const notes = (await readTopic(brokers, topic, purchases.length, 60_000)).map((r) =>
    JSON.parse(r.value)
  );
  const byId = Map.groupBy(notes as { id: string; kind: string }[], (n) => n.id);
  const twice = [...byId].filter(([, list]) => list.length > 1).map(([id]) => id);
  const missing = purchases.filter((p) => !byId.has(p.id)).map((p) => p.id);
  const wrongKind = purchases.filter((p) => byId.get(p.id)?.[0]?.kind !== classifyPurchase(p)).map((
    p,
  ) => p.id);
  assert.deepEqual({ twice, missing, wrongKind: wrongKind.length, total: notes.length }, {
    twice: [],
    missing: [],
    wrongKind: 0,
    total: purchases.length,
  });
}

Deno.test({
  name:
    "purchase-analytics: 2,000 events give windows and totals equal to a direct count, one notification per purchase",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const brokers = await testBrokers();
    const smtp = await startSmtp();
    const env = { ...environment(brokers), SMTP_URL: smtp.url };
    const config = loadConfig(env);
    const log = createLogger("test", "warn");
    const kafka = createKafkaClient(config, log);
    await kafka.ensureTopics(
      despachoTopics(config),
      { timeoutMs: 60_000 },
    );
    const stop = new AbortController();
    const role = runAnalytics({
      config,
      log,
      kafka,
      signal: stop.signal,
    });
    // The notification role mails what purchase-analytics notifies.
    const mailing = runNotification({
      config,
      log,
      kafka: createKafkaClient(config, log),
      signal: stop.signal,
    });
    try {
      const events = generatePurchases(await readWords(), {
        count: 2000,
        seed: 5,
        startMs: Date.UTC(2026, 10, 24, 12),
        intervalMs: 40,
      });
      await publish(brokers, env.TOPIC_PURCHASES, events);
      await assertExactlyOnceNotifications(brokers, env.TOPIC_PURCHASE_NOTIFICATIONS, events);
      const got = await publishedWhenClosed(brokers, env.TOPIC_PURCHASE_ANALYTICS, events);
      const want = expected(events);
      assert.deepEqual(got.totals, want.totals);
      assert.deepEqual([...got.windows.keys()].sort(), [...want.windows.keys()].sort());
      for (const [start, report] of want.windows) {
        assert.deepEqual(got.windows.get(start), report, `window ${start}`);
      }
      // With SMTP_URL set, every purchase is also mailed to its buyer, once (by notification).
      const purchases = events.filter((e) => classifyPurchase(e) !== "visit");
      const deadline = Date.now() + 30_000;
      while (smtp.mails.length < purchases.length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(smtp.mails.length, purchases.length);
      assert.equal(new Set(smtp.mails.map((m) => m.messageId)).size, purchases.length);
      const byId = new Map(purchases.map((p) => [p.id, p]));
      for (const m of smtp.mails) {
        const id = m.messageId?.slice(1).split(".")[0] ?? "";
        assert.deepEqual(m.to, [byId.get(id)?.email], `mail ${m.messageId}`);
      }
    } finally {
      stop.abort();
      await Promise.all([role, mailing]);
      await smtp.close();
    }
  },
});

Deno.test({
  name: "purchase-analytics: SIGKILL mid-stream, restart, and totals still equal the direct count",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const brokers = await testBrokers();
    const env = environment(brokers);
    const start = () => startRole(env, "analytics-1");
    const events = generatePurchases(await readWords(), {
      count: 2000,
      seed: 9,
      startMs: Date.UTC(2026, 10, 24, 13),
      intervalMs: 40,
    });
    let worker = await start();
    try {
      // Ten chunks over ~2 s; the kill lands in the middle.
      for (let i = 0; i < 10; i++) {
        await publish(brokers, env.TOPIC_PURCHASES, events.slice(i * 200, (i + 1) * 200));
        if (i === 5) {
          await new Promise((r) => setTimeout(r, 300));
          await worker.kill();
          worker = await start();
        }
        await new Promise((r) => setTimeout(r, 150));
      }
      await assertExactlyOnceNotifications(brokers, env.TOPIC_PURCHASE_NOTIFICATIONS, events);
      const got = await publishedWhenClosed(brokers, env.TOPIC_PURCHASE_ANALYTICS, events);
      const want = expected(events);
      assert.deepEqual(got.totals, want.totals);
      for (const [startIso, report] of want.windows) {
        assert.deepEqual(got.windows.get(startIso), report, `window ${startIso}`);
      }
    } finally {
      await worker.stop();
    }
  },
});

Deno.test({
  name:
    "purchase-analytics: partitions move to a second instance and back (join, then leave) mid-stream; windows and totals still equal a direct count",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const brokers = await testBrokers();
    const env = environment(brokers);
    const start = (instance: string) => startRole(env, instance);
    const events = generatePurchases(await readWords(), {
      count: 16_000,
      seed: 11,
      startMs: Date.UTC(2026, 10, 24, 14),
      intervalMs: 40,
    });
    const a = await start("moving-a");
    let b: Awaited<ReturnType<typeof start>> | null = null;
    try {
      // Events keep flowing, 200 every 250 ms, while instances come and go, until four more
      // chunks after B left: a pause of the stream itself would close windows as idle
      // (ANALYTICS_IDLE_MS), which is the policy, not what this test is about. How long B takes
      // to start (seconds on a busy machine) only changes how many events are sent.
      let published = 0;
      let bGone = false;
      const flowing = (async () => {
        let afterB = 0;
        for (let i = 0; i * 200 < events.length && afterB < 4; i++) {
          await publish(brokers, env.TOPIC_PURCHASES, events.slice(i * 200, (i + 1) * 200));
          published = Math.min(events.length, (i + 1) * 200);
          if (bGone) afterB++;
          await new Promise((r) => setTimeout(r, 250));
        }
      })();
      await new Promise((r) => setTimeout(r, 600));
      const bStarted = await start("moving-b"); // some of A's partitions move to B
      b = bStarted;
      // The move happened: B restored the state of partitions A had worked on.
      await until(
        "B to take over partitions A had worked on",
        () => Promise.resolve(bStarted.counted("restored") > 0 ? true : undefined),
        60_000,
      );
      const aRestoredBefore = a.counted("restored");
      await bStarted.stop(); // and they come back to A, which had dropped their state
      bGone = true;
      await flowing;
      assert.ok(bGone && published < events.length, "the stream outlasted B");
      const sent = events.slice(0, published);
      await assertExactlyOnceNotifications(brokers, env.TOPIC_PURCHASE_NOTIFICATIONS, sent);
      const got = await publishedWhenClosed(brokers, env.TOPIC_PURCHASE_ANALYTICS, sent);
      const want = expected(sent);
      assert.deepEqual(got.totals, want.totals);
      for (const [startIso, report] of want.windows) {
        assert.deepEqual(got.windows.get(startIso), report, `window ${startIso}`);
      }
      // And back: A restored them from B's checkpoints.
      assert.ok(a.counted("restored") > aRestoredBefore, `A took them back: ${a.tail()}`);
    } finally {
      await b?.stop();
      await a.stop();
    }
  },
});
