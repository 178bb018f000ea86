import assert from "node:assert/strict";
import { deadLetterRecord, type OutRecord } from "./kafka/records.ts";
import {
  PurchaseAnalyticsRecordSchema,
  PurchaseCheckpointSchema,
  type PurchaseEvent,
  type PurchaseNotified,
  PurchaseNotifiedSchema,
} from "./purchase.ts";
import {
  analysePurchases,
  type AnalyticsSettings,
  checkpointKey,
  flushIdle,
  freshPartition,
  type PartitionAnalytics,
  type PurchaseBatchEntry,
  resumePartition,
} from "./purchase_analytics.ts";

const settings: AnalyticsSettings = {
  groupId: "despacho-purchase-analytics",
  topics: { notifications: "notes", analytics: "analytics", state: "state" },
  window: { sizeMs: 10_000, latenessMs: 2_000 },
  storeName: "Tienda Sur",
};
const T0 = Date.UTC(2026, 10, 24, 12);
const now = (ms = 0) => new Date(T0 + 60_000 + ms);

/** A purchase (taps > 0) or a visit (taps null or 0) at `T0 + atMs` of event time. */
function purchase(id: string, taps: number | null, atMs: number, product = "Reloj"): PurchaseEvent {
  return {
    v: 1,
    type: "Purchase",
    id,
    nombre: "Scarlett",
    apellido: "Morris",
    edad: 44,
    email: `${id}@mail.com`,
    telefono: "+70 976-874-0232",
    ubicacion: { direccion: "123 Abbey Road", ciudad: "Lakewood", pais: "Chile" },
    productovisto: product,
    taps,
    folio: taps ? `F-${id}` : null,
    ts: new Date(T0 + atMs).toISOString(),
  };
}

/** Events with consecutive offsets from `first`. */
function batch(first: number, ...events: (PurchaseEvent | OutRecord)[]): PurchaseBatchEntry[] {
  return events.map((e, i) =>
    "type" in e && e.type === "Purchase"
      ? { offset: String(first + i), purchase: e }
      : { offset: String(first + i), deadLetter: e as OutRecord }
  );
}

const fresh = () => freshPartition("purchase_events", 3, now());
const values = (records: readonly OutRecord[], topic: string) =>
  records.filter((r) => r.topic === topic).map((r) => JSON.parse(r.value));
const windowsOf = (records: readonly OutRecord[]) =>
  values(records, "analytics").filter((v) => v.type === "PurchaseWindow");
const totalsOf = (records: readonly OutRecord[]) =>
  values(records, "analytics").filter((v) => v.type === "PurchaseTotals");

Deno.test("analysePurchases() notifies each purchase and counts visits without notifying them", () => {
  const d = analysePurchases(
    fresh(),
    batch(
      10,
      purchase("a", 12.5, 0),
      purchase("b", null, 1_000),
      purchase("c", 0, 2_000),
      purchase("d", 45.5, 3_000),
    ),
    now(),
    settings,
  );
  assert.deepEqual(d.notifications.map((n) => [n.id, n.kind, n.folio, n.source]), [
    ["a", "short", "F-a", { partition: 3, offset: "10" }],
    ["d", "long", "F-d", { partition: 3, offset: "13" }],
  ]);
  const notes = values(d.records, "notes") as PurchaseNotified[];
  assert.deepEqual(notes, d.notifications);
  assert.deepEqual(d.records.filter((r) => r.topic === "notes").map((r) => r.key), ["a", "d"]);
  for (const n of notes) PurchaseNotifiedSchema.parse(n);
  assert.equal(notes[0]!.at, now().toISOString());
  const [totals] = totalsOf(d.records);
  assert.deepEqual(
    [totals.stats.events, totals.stats.purchases, totals.stats.visits, totals.stats.short],
    [4, 2, 2, 1],
  );
});

Deno.test("analysePurchases() words a purchase under 30 minutes short and one of 30 or more long", async (t) => {
  const cases: [number, "short" | "long", RegExp][] = [
    [29.9, "short", /te demoraste un tiempo corto/],
    [30, "long", /te demoraste 30 minutos en adquirirlo, más de lo esperado/],
    [45.5, "long", /te demoraste 45.5 minutos/],
  ];
  for (const [taps, kind, words] of cases) {
    await t.step(`${taps} minutes`, () => {
      const d = analysePurchases(fresh(), batch(0, purchase("x", taps, 0)), now(), settings);
      const [n] = d.notifications;
      assert.equal(n?.kind, kind);
      assert.match(n?.text ?? "", words);
      assert.match(n?.text ?? "", /Estimad@ Scarlett,/);
      assert.match(
        n?.text ?? "",
        /'Reloj' en nuestra tienda en línea de Tienda Sur.*folio es: F-x/,
      );
    });
  }
});

Deno.test("analysePurchases() closes windows when the watermark passes their end, before totals and checkpoint", () => {
  const first = analysePurchases(
    fresh(),
    batch(0, purchase("a", 10, 1_000), purchase("b", null, 9_000), purchase("c", 10, 11_999)),
    now(),
    settings,
  );
  assert.deepEqual(first.closed, [], "watermark 9.999 s: [0, 10) stays open");
  assert.deepEqual(first.state.windows.open.map((w) => w.stats.events), [2, 1]);
  const second = analysePurchases(
    first.state,
    batch(3, purchase("d", 10, 12_000), purchase("e", 10, 25_000)),
    now(1_000),
    settings,
  );
  assert.deepEqual(second.closed.map((w) => [w.start - T0, w.stats.events]), [[0, 2], [
    10_000,
    2,
  ]]);
  assert.deepEqual(
    second.records.map((r) => [r.topic, r.key]),
    [
      ["notes", "d"],
      ["notes", "e"],
      ["analytics", `${new Date(T0).toISOString()}/3`],
      ["analytics", `${new Date(T0 + 10_000).toISOString()}/3`],
      ["analytics", "totals/3"],
      ["state", "despacho-purchase-analytics/purchase_events/3"],
    ],
  );
  const [w0] = windowsOf(second.records);
  assert.deepEqual(PurchaseAnalyticsRecordSchema.parse(w0), w0);
  assert.deepEqual([w0.partition, w0.start, w0.end], [
    3,
    new Date(T0).toISOString(),
    new Date(T0 + 10_000).toISOString(),
  ]);
  assert.deepEqual(
    [w0.report.events, w0.report.purchases, w0.report.visitsWithoutPurchase, w0.report.taps?.mean],
    [2, 1, 1, 10],
  );
});

Deno.test("analysePurchases() counts an event for a closed window in the totals and in late, never in a window", () => {
  const open = analysePurchases(
    fresh(),
    batch(0, purchase("a", 10, 1_000), purchase("b", 10, 12_000)),
    now(),
    settings,
  );
  assert.deepEqual(open.closed.map((w) => w.start - T0), [0]);
  const late = analysePurchases(open.state, batch(2, purchase("c", 50, 3_000)), now(), settings);
  assert.deepEqual(late.closed, []);
  assert.deepEqual(windowsOf(late.records), []);
  assert.deepEqual(late.state.windows.open.map((w) => [w.start - T0, w.stats.events]), [
    [10_000, 1],
  ]);
  const [totals] = totalsOf(late.records);
  assert.deepEqual([totals.stats.events, totals.stats.long, totals.late], [3, 1, 1]);
  assert.equal(late.notifications.length, 1, "a late purchase is still notified");
});

Deno.test("analysePurchases() passes dead letters on in input order and counts them in invalid", () => {
  const letter = deadLetterRecord(
    "dead",
    {
      topic: "purchase_events",
      partition: 3,
      offset: "6",
      key: "x",
      value: new TextEncoder().encode("{"),
    },
    "Cannot parse record: invalid JSON",
    now(),
  );
  const d = analysePurchases(
    fresh(),
    batch(5, purchase("a", 10, 0), letter, purchase("b", null, 100)),
    now(),
    settings,
  );
  assert.deepEqual(d.records.slice(0, 2).map((r) => r.topic), ["notes", "dead"]);
  assert.equal(d.records[1], letter);
  assert.equal(d.state.windows.invalid, 1);
  assert.equal(d.state.windows.totals.events, 2);
  const [totals] = totalsOf(d.records);
  assert.equal(totals.invalid, 1);
  assert.equal(d.state.offset, "7");
  assert.equal(d.offset, "7");
});

Deno.test("analysePurchases() leaves the state it is given as it was", () => {
  const first = analysePurchases(fresh(), batch(0, purchase("a", 10, 1_000)), now(), settings);
  const before = structuredClone(first.state);
  analysePurchases(first.state, batch(1, purchase("b", 10, 30_000)), now(5_000), settings);
  assert.deepEqual(first.state, before);
});

Deno.test("analysePurchases() checkpoints the state after the batch's last offset, and resuming from it gives the same results", () => {
  const events = Array.from(
    { length: 120 },
    (_, i) =>
      purchase(`e${i}`, i % 4 === 0 ? null : (i % 50) + 0.5, i * 400 - (i % 7) * 900, `p${i % 3}`),
  );
  let straight: PartitionAnalytics = fresh();
  const straightRecords: OutRecord[] = [];
  for (let i = 0; i < events.length; i += 10) {
    const d = analysePurchases(straight, batch(i, ...events.slice(i, i + 10)), now(), settings);
    straight = d.state;
    straightRecords.push(...d.records);
  }
  let resumed: PartitionAnalytics = fresh();
  const resumedRecords: OutRecord[] = [];
  for (let i = 0; i < events.length; i += 10) {
    const d = analysePurchases(resumed, batch(i, ...events.slice(i, i + 10)), now(), settings);
    resumedRecords.push(...d.records);
    // Every batch: through the wire and back, as a restart after this batch would.
    const record = d.records.at(-1)!;
    assert.equal(record.topic, "state");
    assert.equal(record.key, checkpointKey(settings.groupId, "purchase_events", 3));
    const checkpoint = PurchaseCheckpointSchema.parse(JSON.parse(record.value));
    assert.deepEqual(
      [checkpoint.type, checkpoint.topic, checkpoint.partition, checkpoint.offset],
      ["PurchaseCheckpoint", "purchase_events", 3, String(Math.min(i + 9, events.length - 1))],
    );
    const resume = resumePartition("purchase_events", 3, checkpoint, String(i + 10), now());
    assert.equal(resume.problem, null);
    resumed = resume.state;
  }
  assert.deepEqual(resumed.windows, straight.windows);
  assert.deepEqual(resumedRecords, straightRecords);
  assert.ok(windowsOf(straightRecords).length > 3);
  assert.ok(straight.windows.late > 0);
});

Deno.test("analysePurchases() skips records it counted already (a batch read again)", () => {
  const first = analysePurchases(
    fresh(),
    batch(10, purchase("a", 10, 1_000), purchase("b", 10, 2_000)),
    now(),
    settings,
  );
  const again = analysePurchases(
    first.state,
    batch(9, purchase("z", 10, 0), purchase("a", 10, 1_000), purchase("b", 10, 2_000)),
    now(1_000),
    settings,
  );
  assert.deepEqual(again, {
    records: [],
    offset: "11",
    notifications: [],
    closed: [],
    state: first.state,
  });
  const partly = analysePurchases(
    first.state,
    batch(11, purchase("b", 10, 2_000), purchase("c", 10, 3_000)),
    now(1_000),
    settings,
  );
  assert.deepEqual(partly.notifications.map((n) => n.id), ["c"]);
  assert.equal(partly.offset, "12");
  assert.equal(partly.state.windows.totals.events, 3);
  assert.equal(partly.state.offset, "12");
});

Deno.test("analysePurchases() refuses an empty batch", () => {
  assert.throws(
    () => analysePurchases(fresh(), [], now(), settings),
    new RangeError("Cannot analyse purchases of purchase_events/3: the batch is empty"),
  );
});

Deno.test("flushIdle() closes the open windows once a partition had no batch for idleMs", async (t) => {
  const busy = analysePurchases(
    fresh(),
    batch(0, purchase("a", 10, 1_000), purchase("b", 10, 11_000)),
    now(),
    settings,
  );
  assert.equal(busy.state.windows.open.length, 2);
  await t.step("not before idleMs", () => {
    assert.equal(flushIdle(busy.state, now(4_999), 5_000, settings), null);
  });
  await t.step("nothing to close: nothing to publish", () => {
    assert.equal(flushIdle(fresh(), now(60_000), 5_000, settings), null);
  });
  const d = flushIdle(busy.state, now(5_000), 5_000, settings);
  await t.step("at idleMs: every open window, oldest first, then totals and checkpoint", () => {
    assert.ok(d !== null);
    assert.deepEqual(d.closed.map((w) => w.start - T0), [0, 10_000]);
    assert.deepEqual(d.records.map((r) => r.topic), [
      "analytics",
      "analytics",
      "analytics",
      "state",
    ]);
    assert.deepEqual(d.notifications, []);
    assert.deepEqual(d.state.windows.open, []);
    assert.equal(d.state.windows.watermark, T0 + 20_000);
    assert.equal(d.offset, "1", "the position stays that of the last record");
    assert.equal(d.state.offset, "1");
    assert.equal(d.state.lastEventAt, busy.state.lastEventAt);
    const checkpoint = PurchaseCheckpointSchema.parse(JSON.parse(d.records.at(-1)!.value));
    assert.deepEqual([checkpoint.offset, checkpoint.state], ["1", d.state.windows]);
    assert.equal(busy.state.windows.open.length, 2, "the state given is unchanged");
    assert.equal(flushIdle(d.state, now(60_000), 5_000, settings), null);
  });
  await t.step("an event for a flushed window afterwards is late", () => {
    assert.ok(d !== null);
    const late = analysePurchases(
      d.state,
      batch(2, purchase("c", 10, 16_000)),
      now(6_000),
      settings,
    );
    assert.equal(late.state.windows.late, 1);
    assert.deepEqual(late.state.windows.open, []);
    assert.deepEqual(windowsOf(late.records), []);
  });
});

Deno.test("resumePartition() trusts a checkpoint only where it matches the group's committed offset", async (t) => {
  const after = analysePurchases(
    fresh(),
    batch(40, purchase("a", 10, 1_000), purchase("b", 10, 2_000)),
    now(),
    settings,
  );
  const checkpoint = PurchaseCheckpointSchema.parse(JSON.parse(after.records.at(-1)!.value));
  const cases: [
    string,
    typeof checkpoint | undefined,
    string,
    "checkpoint" | "fresh",
    RegExp | null,
  ][] = [
    ["checkpoint at the committed offset", checkpoint, "42", "checkpoint", null],
    ["no checkpoint and no committed offset", undefined, "-1", "fresh", null],
    ["no checkpoint, committed offset 0", undefined, "0", "fresh", null],
    [
      "no checkpoint but a committed offset",
      undefined,
      "42",
      "fresh",
      /^Cannot resume purchase_events\/3: the group resumes at offset 42 but there is no checkpoint/,
    ],
    [
      "a checkpoint but no committed offset",
      checkpoint,
      "-1",
      "fresh",
      /^Cannot resume purchase_events\/3 from its checkpoint at offset 41: the group has no committed offset/,
    ],
    [
      "a checkpoint behind the committed offset",
      checkpoint,
      "50",
      "checkpoint",
      /^Cannot resume purchase_events\/3 exactly: its checkpoint counts records up to offset 41 but the group resumes at offset 50$/,
    ],
  ];
  for (const [name, given, committed, want, problem] of cases) {
    await t.step(name, () => {
      const r = resumePartition("purchase_events", 3, given, committed, now(9_000));
      assert.deepEqual(
        r.state,
        want === "fresh" ? freshPartition("purchase_events", 3, now(9_000)) : {
          ...after.state,
          lastEventAt: now(9_000).getTime(),
        },
      );
      if (problem === null) assert.equal(r.problem, null);
      else assert.match(r.problem ?? "", problem);
    });
  }
});
