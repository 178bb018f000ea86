import { erasedRecords, mailRecord, stepRecord } from "../lib/order_status.ts";
import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { generatePurchases, readWords } from "../datasets/purchases.ts";
import { loadConfig } from "../lib/config.ts";
import { deadLetterRecord, deadLetterReplayedRecord, despachoTopics } from "../lib/kafka/mod.ts";
import { afterAttempt } from "../lib/mail_delivery.ts";
import { afterPurchaseAttempt } from "../lib/purchase_mail.ts";
import { erasureRequestRecord, type OrderRequested } from "../lib/order.ts";
import { advanceOrder } from "../lib/processing.ts";
import { analysePurchases, flushIdle } from "../lib/purchase_analytics.ts";
import { emptyState } from "../lib/windows.ts";
import { asyncApiDocument, CHANNELS, type RecordName } from "./asyncapi.ts";

// deno-lint-ignore no-explicit-any -- a JSON document walked by hand in a test
type Json = Record<string, any>;
const doc = asyncApiDocument(loadConfig({})) as Json;

Deno.test("asyncApiDocument() has a channel for every topic the roles create, named by its variable", () => {
  const config = loadConfig({});
  const topics = new Set(
    despachoTopics(config).map((t) => t.name),
  );
  const addresses = new Set(Object.values(doc.channels).map((c) => (c as Json).address));
  assert.deepEqual([...addresses].sort(), [...topics].sort());
  for (const c of Object.values(doc.channels) as Json[]) {
    assert.equal(config[c["x-despacho-variable"] as keyof typeof config], c.address);
    for (const m of Object.values(c.messages) as Json[]) {
      const name = m.$ref.split("/").at(-1);
      assert.ok(doc.components.messages[name], `message ${name}`);
    }
  }
  for (const op of Object.values(doc.operations) as Json[]) {
    assert.ok(doc.channels[op.channel.$ref.split("/").at(-1)], `operation on ${op.channel.$ref}`);
  }
  assert.equal(doc.asyncapi, "3.0.0");
});

Deno.test("asyncApiDocument(): the records the roles really write pass the document's schemas", async () => {
  // Formats (email, date-time…) checked too, as a reader of the document would.
  const ajv = addFormats.default(new Ajv2020({ strict: false, allErrors: true }));
  for (const [id, schema] of Object.entries(doc.components.schemas)) {
    ajv.addSchema(schema as Json, `#/components/schemas/${id}`);
  }
  const checked = new Set<string>();
  const check = (name: RecordName, value: unknown) => {
    checked.add(name);
    const validate = ajv.getSchema(`#/components/schemas/${name}`)!;
    assert.ok(validate(value), `${name}: ${JSON.stringify(validate.errors)}`);
  };
  const order = { name: "Pizza", price: 12990, email: "a@b.cl" };
  const requested: OrderRequested = {
    v: 1,
    type: "OrderRequested",
    id: "o-1",
    order,
    requestedAt: "2026-11-25T12:00:00.000Z",
  };
  check("OrderRequested", requested);
  const decision = advanceOrder(requested, new Date("2026-11-25T12:00:00.010Z"), [0, 0, 0]);
  assert.equal(decision.kind, "emit");
  const transitions = decision.kind === "emit" ? decision.transitions : [];
  for (const t of transitions) check("OrderTransition", t);
  const now = new Date("2026-11-25T12:00:01.000Z");
  const policy = { retryForMs: 3_600_000, maxDelayMs: 60_000 };
  const sent = afterAttempt(
    { transition: transitions[0]!, attempts: 0 },
    { ok: true },
    now,
    policy,
  );
  check("OrderNotified", sent.record);
  check("OrderStep", JSON.parse(stepRecord("order_status", transitions[0]!, null).value));
  if (sent.kind === "notified") {
    check("OrderMail", JSON.parse(mailRecord("order_status", sent.record).value));
  }
  const erasure = erasureRequestRecord("order_erasures", "o-1", now);
  check("OrderErasureRequested", JSON.parse(erasure.value));
  const marker = erasedRecords("order_status", {
    v: 1,
    type: "OrderErased",
    id: "o-1",
    at: now.toISOString(),
  }).find((r) => r.value !== null);
  check("OrderErased", JSON.parse(marker!.value!));
  const failure = Object.assign(new Error("451 try again"), { responseCode: 451 });
  const retry = afterAttempt(
    { transition: transitions[1]!, attempts: 0 },
    {
      ok: false,
      error: failure,
    },
    now,
    policy,
  );
  check("MailRetry", retry.record);
  const letter = deadLetterRecord("dlq", {
    topic: "order_requests",
    partition: 0,
    offset: "7",
    key: "k",
    value: new TextEncoder().encode("{oops"),
  }, "Cannot parse record: invalid JSON");
  check("DeadLetter", JSON.parse(letter.value));
  const source = JSON.parse(letter.value).source;
  check(
    "DeadLetterReplayed",
    JSON.parse(deadLetterReplayedRecord("dlq", source, "original").value),
  );

  const events = generatePurchases(await readWords(), {
    count: 50,
    seed: 3,
    startMs: Date.UTC(2026, 10, 25, 12),
    intervalMs: 500,
  });
  for (const e of events) check("Purchase", e);
  const settings = {
    groupId: "g",
    topics: { notifications: "notes", analytics: "analytics", state: "state" },
    window: { sizeMs: 10_000, latenessMs: 2_000 },
    storeName: "Tienda Sur",
  };
  const analysed = analysePurchases(
    { topic: "purchase_events", partition: 0, windows: emptyState(), offset: null, lastEventAt: 0 },
    events.map((purchase, i) => ({ offset: String(i), purchase })),
    now,
    settings,
  );
  const flushed = flushIdle(analysed.state, new Date(now.getTime() + 60_000), 5_000, settings);
  const byTopic = (topic: string) =>
    [...analysed.records, ...(flushed?.records ?? [])].filter((r) => r.topic === topic).map((r) =>
      JSON.parse(r.value)
    );
  const notes = byTopic("notes");
  assert.ok(notes.length > 0);
  for (const n of notes) check("PurchaseNotified", n);
  const mailed = afterPurchaseAttempt(
    { notification: notes[0], attempts: 0 },
    { ok: true },
    now,
    policy,
  );
  check("PurchaseMailed", mailed.record);
  const refused = afterPurchaseAttempt(
    { notification: notes[0], attempts: 0 },
    { ok: false, error: Object.assign(new Error("550 no such user"), { responseCode: 550 }) },
    now,
    policy,
  );
  check("PurchaseMailed", refused.record);
  const owed = afterPurchaseAttempt(
    { notification: notes[0], attempts: 0 },
    { ok: false, error: failure },
    now,
    policy,
  );
  assert.equal(owed.kind, "retry");
  check("PurchaseMailRetry", owed.record);
  const analytics = byTopic("analytics");
  assert.ok(analytics.some((r) => r.type === "PurchaseWindow"));
  for (const r of analytics) {
    check(r.type === "PurchaseWindow" ? "PurchaseWindow" : "PurchaseTotals", r);
  }
  for (const c of byTopic("state")) check("PurchaseCheckpoint", c);
  // Every record name a channel carries was checked above, with a record a role wrote.
  assert.deepEqual(
    [...checked].sort(),
    [...new Set(Object.values(CHANNELS).flatMap((c) => c.messages))].sort(),
  );
  assert.equal(checked.size, Object.keys(doc.components.messages).length);
});

Deno.test("asyncApiDocument() describes the deployment it is given: topic names, partitions, replicas, brokers", () => {
  const config = loadConfig({
    TOPIC_ORDER_REQUESTS: "tienda.pedidos",
    TOPIC_PARTITIONS: "12",
    TOPIC_REPLICATION_FACTOR: "3",
    KAFKA_BROKERS: "k1:9092,k2:9092,k3:9092",
  });
  const described = asyncApiDocument(config) as Json;
  const requests = (Object.values(described.channels) as Json[])
    .find((c) => c["x-despacho-variable"] === "TOPIC_ORDER_REQUESTS")!;
  assert.equal(requests.address, "tienda.pedidos");
  assert.equal(requests.bindings.kafka.partitions, 12);
  assert.equal(requests.bindings.kafka.replicas, 3);
  assert.equal(described.servers.local.host, "k1:9092,k2:9092,k3:9092");
});

Deno.test("asyncApiDocument(): a record that breaks its schema is refused by the document too", () => {
  const ajv = addFormats.default(new Ajv2020({ strict: false }));
  for (const [id, schema] of Object.entries(doc.components.schemas)) {
    ajv.addSchema(schema as Json, `#/components/schemas/${id}`);
  }
  const validate = ajv.getSchema("#/components/schemas/OrderTransition")!;
  assert.equal(validate({ v: 1, type: "OrderTransition", id: "x", state: "perdido" }), false);
  const requested = ajv.getSchema("#/components/schemas/OrderRequested")!;
  const good = {
    v: 1,
    type: "OrderRequested",
    id: "o-1",
    order: { name: "Pizza", price: 12990, email: "a@b.cl" },
    requestedAt: "2026-11-25T12:00:00.000Z",
  };
  assert.equal(requested(good), true, JSON.stringify(requested.errors));
  // The formats are part of the contract: a reader checking them refuses these.
  assert.equal(requested({ ...good, requestedAt: "yesterday" }), false);
  assert.equal(requested({ ...good, order: { ...good.order, email: "not-an-address" } }), false);
});
