/**
 * The purchase-analytics role on an in-memory stand-in for the Kafka seam: state follows
 * partitions (restored after every assignment, dropped after a failed commit), and publishing for
 * a partition names its position. The real broker is exercised by
 * workers/integration/purchases_test.ts.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../lib/config.ts";
import { NotOwnedError } from "../lib/kafka/group_commit.ts";
import type {
  BatchContext,
  InRecord,
  KafkaClient,
  Outgoing,
  TopicPartition,
  TransactionalLoop,
  TransactionalOptions,
} from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import type { Purchase, PurchaseNotified, PurchaseTotalsRecord } from "../lib/purchase.ts";
import { waitFor } from "../lib/wait.ts";
import { consoleLines, run } from "./purchase_analytics.ts";

const T0 = Date.UTC(2026, 10, 24, 12);
const config = loadConfig({
  TOPIC_PARTITIONS: "2",
  INSTANCE_ID: "test",
  PURCHASE_CONSOLE: "off",
  ANALYTICS_IDLE_MS: "100",
  LOG_LEVEL: "error",
});
const INPUT = config.TOPIC_PURCHASES;
const log = createLogger("test", "error");

function purchase(id: string, taps: number | null, atMs: number): Purchase {
  return {
    v: 1,
    type: "Purchase",
    id,
    nombre: "Ana",
    apellido: "Díaz",
    edad: 30,
    email: `${id}@mail.com`,
    telefono: "+56 9 1234",
    ubicacion: { direccion: "Calle 1", ciudad: "Lima", pais: "Perú" },
    productovisto: "Reloj",
    taps,
    folio: taps ? `F-${id}` : null,
    ts: new Date(T0 + atMs).toISOString(),
  };
}

/**
 * Kafka as the role sees it through the seam: committed logs per topic partition (all
 * transactions commit or fail whole), group offsets, and transactional loops the test drives.
 */
class FakeKafka {
  logs = new Map<string, InRecord[]>();
  offsets = new Map<number, string>();
  /** Makes the next commit fail: "before" it is applied, or "after" (the outcome is unknown). */
  failNext: "before" | "after" | null = null;

  log(topic: string, partition = 0): InRecord[] {
    const at = `${topic}/${partition}`;
    let log = this.logs.get(at);
    if (log === undefined) this.logs.set(at, log = []);
    return log;
  }

  append(records: readonly Outgoing[]): void {
    for (const r of records) {
      // One partition per topic except the input; the state topic is read whole anyway.
      const log = this.log(r.topic);
      log.push({
        topic: r.topic,
        partition: 0,
        offset: String(log.length),
        key: r.key,
        value: r.value === null ? null : new TextEncoder().encode(r.value),
        headers: {},
        timestamp: log.length,
      });
    }
  }

  produce(partition: number, ...events: Purchase[]): void {
    const log = this.log(INPUT, partition);
    for (const e of events) {
      log.push({
        topic: INPUT,
        partition,
        offset: String(log.length),
        key: e.id,
        value: new TextEncoder().encode(JSON.stringify(e)),
        headers: {},
        timestamp: T0,
      });
    }
  }

  commit(records: readonly Outgoing[], position: TopicPartition & { offset: string }): void {
    const fail = this.failNext;
    this.failNext = null;
    if (fail === "before") throw new Error("Cannot commit: the transaction timed out");
    this.append(records);
    this.offsets.set(position.partition, String(BigInt(position.offset) + 1n));
    if (fail === "after") throw new Error("Cannot commit: no answer (it may have committed)");
  }

  values<T>(topic: string): T[] {
    return this.log(topic).map((r) => JSON.parse(new TextDecoder().decode(r.value!)));
  }

  /** The latest totals record per input partition. */
  totals(): Map<number, PurchaseTotalsRecord> {
    const out = new Map<number, PurchaseTotalsRecord>();
    for (const v of this.values<PurchaseTotalsRecord>(config.TOPIC_PURCHASE_ANALYTICS)) {
      if (v.type === "PurchaseTotals") out.set(v.partition, v);
    }
    return out;
  }

  client(): { kafka: KafkaClient; loop: Promise<FakeLoop> } {
    let started: (loop: FakeLoop) => void = () => {};
    const loop = new Promise<FakeLoop>((r) => (started = r));
    const partial: Pick<
      KafkaClient,
      "endOffsets" | "groupOffsets" | "readRange" | "runTransactional"
    > = {
      endOffsets: (topic) =>
        Promise.resolve([{ partition: 0, low: "0", high: String(this.log(topic).length) }]),
      groupOffsets: () =>
        Promise.resolve([0, 1].map((p) => ({ partition: p, offset: this.offsets.get(p) ?? "-1" }))),
      readRange: (topic, partition, from, to, onRecords) => {
        onRecords(
          this.log(topic, partition).filter((r) =>
            BigInt(r.offset) >= BigInt(from) && BigInt(r.offset) < BigInt(to)
          ),
        );
        return Promise.resolve();
      },
      runTransactional: (options) => {
        const l = new FakeLoop(this, options);
        started(l);
        return l;
      },
    };
    return { kafka: partial as KafkaClient, loop };
  }
}

/** A transactional loop whose assignment and fetches the test drives. */
class FakeLoop implements TransactionalLoop {
  ready = Promise.resolve();
  done: Promise<void>;
  published: (TopicPartition & { offset: string } | undefined)[] = [];
  #owned = new Set<number>();
  /** The next offset each owned partition is read from (the committed one after an assignment). */
  #position = new Map<number, bigint>();
  #stop: () => void = () => {};

  constructor(private kafka: FakeKafka, private options: TransactionalOptions) {
    this.done = new Promise((r) => (this.#stop = r));
  }

  /** A rebalance: the group gives this instance `partitions`. */
  assign(...partitions: number[]): void {
    this.#owned = new Set(partitions);
    this.#position = new Map(
      partitions.map((p) => [p, BigInt(this.kafka.offsets.get(p) ?? "0")]),
    );
    this.options.onAssign?.(partitions.map((partition) => ({ topic: INPUT, partition })));
  }

  /** The start of a rebalance: nothing is this instance's until the next assignment. */
  revoke(): void {
    this.#owned.clear();
  }

  /** One fetch of `partition`: everything after its position, handled as one batch. */
  async fetch(partition: number): Promise<void> {
    const from = this.#position.get(partition) ?? 0n;
    const records = this.kafka.log(INPUT, partition).filter((r) => BigInt(r.offset) >= from);
    if (records.length === 0) return;
    const ctx: BatchContext = {
      signal: new AbortController().signal,
      heartbeat: () => Promise.resolve(),
      commit: (out, offset) => {
        if (!this.#owned.has(partition)) {
          return Promise.reject(new NotOwnedError({ topic: INPUT, partition }));
        }
        this.kafka.commit(out, { topic: INPUT, partition, offset });
        this.#position.set(partition, BigInt(offset) + 1n);
        return Promise.resolve();
      },
    };
    await this.options.handle({ topic: INPUT, partition, records }, ctx).catch(() => {});
  }

  publish(
    records: readonly Outgoing[],
    position?: TopicPartition & { offset: string },
  ): Promise<void> {
    this.published.push(position);
    if (position !== undefined && !this.#owned.has(position.partition)) {
      return Promise.reject(new NotOwnedError(position));
    }
    if (position === undefined) this.kafka.append(records);
    else this.kafka.commit(records, position);
    return Promise.resolve();
  }

  assigned(): TopicPartition[] {
    return [...this.#owned].map((partition) => ({ topic: INPUT, partition }));
  }

  stop(): Promise<void> {
    this.#stop();
    return Promise.resolve();
  }
}

/** Starts the role on `kafka`; `stop()` ends it and waits for it. */
async function start(kafka: FakeKafka) {
  const stop = new AbortController();
  const { kafka: client, loop } = kafka.client();
  const role = run({ config, log, kafka: client, signal: stop.signal });
  const l = await loop;
  return {
    loop: l,
    async stop() {
      stop.abort();
      await role;
    },
  };
}

const notified = (kafka: FakeKafka) =>
  kafka.values<PurchaseNotified>(config.TOPIC_PURCHASE_NOTIFICATIONS).map((n) => n.id).sort();

Deno.test("run() resumes each partition from its checkpoint after a restart: every event counted once", async () => {
  const kafka = new FakeKafka();
  const a = await start(kafka);
  a.loop.assign(0, 1);
  kafka.produce(0, purchase("a", 10, 0), purchase("b", null, 100), purchase("c", 40, 200));
  kafka.produce(1, purchase("d", 5, 0));
  await a.loop.fetch(0);
  await a.loop.fetch(1);
  await a.stop();
  const b = await start(kafka);
  b.loop.assign(0, 1);
  kafka.produce(0, purchase("e", 12, 300));
  await b.loop.fetch(0);
  await b.loop.fetch(1); // nothing new
  await b.stop();
  const totals = kafka.totals();
  assert.deepEqual(
    [0, 1].map((p) => [totals.get(p)?.stats.events, totals.get(p)?.stats.purchases]),
    [[4, 3], [1, 1]],
  );
  assert.deepEqual(notified(kafka), ["a", "c", "d", "e"]);
});

Deno.test("run() restores every partition after an assignment change: one that moved away and back was processed elsewhere", async () => {
  const kafka = new FakeKafka();
  const a = await start(kafka);
  a.loop.assign(0);
  kafka.produce(0, purchase("a", 10, 0), purchase("b", 10, 100));
  await a.loop.fetch(0);
  a.loop.revoke();
  a.loop.assign();
  const b = await start(kafka);
  b.loop.assign(0);
  kafka.produce(0, purchase("c", 10, 200));
  await b.loop.fetch(0);
  b.loop.assign();
  await b.stop();
  a.loop.assign(0);
  kafka.produce(0, purchase("d", 10, 300));
  await a.loop.fetch(0);
  await a.stop();
  assert.equal(kafka.totals().get(0)?.stats.events, 4);
  assert.deepEqual(notified(kafka), ["a", "b", "c", "d"]);
});

Deno.test("run() drops a partition's state when a commit fails, and restores it from Kafka", async (t) => {
  for (const when of ["before", "after"] as const) {
    await t.step(`a commit that fails ${when} it is applied`, async () => {
      const kafka = new FakeKafka();
      const a = await start(kafka);
      a.loop.assign(0);
      kafka.produce(0, purchase("a", 10, 0));
      await a.loop.fetch(0);
      kafka.produce(0, purchase("b", 10, 100), purchase("c", null, 200));
      kafka.failNext = when;
      await a.loop.fetch(0); // fails; the batch is fetched again
      await a.loop.fetch(0);
      await a.stop();
      assert.equal(kafka.totals().get(0)?.stats.events, 3);
      // A commit whose outcome was unknown and did apply is not counted again.
      const ids = notified(kafka);
      assert.deepEqual(ids, ["a", "b"]);
    });
  }
});

Deno.test("run() closes a quiet partition's windows at its position, only while it owns it", async () => {
  const kafka = new FakeKafka();
  const a = await start(kafka);
  try {
    a.loop.assign(0, 1);
    kafka.produce(0, purchase("a", 10, 0));
    kafka.produce(1, purchase("b", 10, 0));
    await a.loop.fetch(0);
    await a.loop.fetch(1);
    // A rebalance begins: nothing is this instance's until it ends, so no idle flush publishes
    // (a real wait: the role's idle timer runs on the wall clock).
    a.loop.revoke();
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(a.loop.published, []);
    // It ends with partition 1 moved elsewhere: only partition 0's windows close.
    a.loop.assign(0);
    await waitFor("the idle flush of partition 0", () =>
      Promise.resolve(
        a.loop.published.length > 0 ? { ready: true, value: undefined } : { ready: false },
      ), { timeoutMs: 10_000, intervalMs: 20 });
    assert.deepEqual(a.loop.published, [{ topic: INPUT, partition: 0, offset: "0" }]);
    const windows = kafka.values<{ type: string; partition: number }>(
      config.TOPIC_PURCHASE_ANALYTICS,
    ).filter((v) => v.type === "PurchaseWindow");
    assert.deepEqual(windows.map((w) => w.partition), [0]);
  } finally {
    await a.stop();
  }
});

Deno.test("consoleLines() prints ids and kind by default, the address and text only when asked", async (t) => {
  const n: PurchaseNotified = {
    v: 1,
    type: "PurchaseNotified",
    id: "p-9",
    kind: "short",
    to: "ana.diaz@mail.com",
    subject: "Gracias por tu compra (folio F-9)",
    text: "Estimad@ Ana,\n¡Esperamos que estés bien!",
    folio: "F-9",
    source: { partition: 0, offset: "3" },
    at: new Date(T0).toISOString(),
  };
  await t.step("the default", () => {
    assert.equal(loadConfig({}).PURCHASE_CONSOLE, "ids");
    assert.equal(consoleLines("ids", n), "[compra corta] evento p-9 folio F-9\n");
  });
  await t.step("line, the earlier name, is the same", () => {
    assert.equal(consoleLines("line", n), consoleLines("ids", n));
  });
  await t.step("full, for debugging", () => {
    assert.equal(
      consoleLines("full", n),
      "[compra corta] evento p-9 folio F-9 para ana.diaz@mail.com\nEstimad@ Ana,\n¡Esperamos que estés bien!\n\n",
    );
  });
});
