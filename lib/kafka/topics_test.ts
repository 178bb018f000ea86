import assert from "node:assert/strict";
import { loadConfig } from "../config.ts";
import { WaitTimeoutError } from "../wait.ts";
import {
  despachoTopics,
  ensureTopics,
  orderTopics,
  purchaseTopics,
  type TopicAdmin,
  type TopicDef,
} from "./topics.ts";

/** An admin whose cluster is slow: each call answers what the script says for that call. */
function slowCluster(script: {
  failCreates?: number;
  existsAlready?: string[];
  leaderlessPolls?: number;
}) {
  const topics = new Map<string, number[]>();
  for (const name of script.existsAlready ?? []) topics.set(name, [1]);
  let creates = 0;
  let polls = 0;
  const calls: string[] = [];
  const admin: TopicAdmin = {
    listTopics: () => Promise.resolve([...topics.keys()]),
    createTopics(defs) {
      calls.push(`create ${defs.map((d) => d.name).join(",")}`);
      if (++creates <= (script.failCreates ?? 0)) {
        return Promise.reject(new Error("Request CreateTopics(key: 19, version: 3) timed out"));
      }
      for (const d of defs) topics.set(d.name, Array(d.partitions).fill(-1));
      return Promise.resolve(defs.map((d) => d.name));
    },
    isAlreadyExists: (error) => error instanceof Error && /already exists/.test(error.message),
    leaders(names) {
      if (++polls > (script.leaderlessPolls ?? 0)) {
        for (const [name, parts] of topics) topics.set(name, parts.map(() => 1));
      }
      return Promise.resolve(
        new Map(names.flatMap((n) => topics.has(n) ? [[n, topics.get(n)!]] : [])),
      );
    },
  };
  return { admin, calls };
}

const defs: TopicDef[] = [
  { name: "a", partitions: 2, replicationFactor: 1 },
  { name: "b", partitions: 1, replicationFactor: 1 },
  { name: "a", partitions: 2, replicationFactor: 1 },
];

Deno.test("ensureTopics() retries a timed-out creation and waits for every leader", async () => {
  const { admin, calls } = slowCluster({ failCreates: 2, leaderlessPolls: 3 });
  const said: string[] = [];
  const created = await ensureTopics(admin, defs, {
    timeoutMs: 60_000,
    intervalMs: 1,
    say: (l) => said.push(l),
  });
  assert.deepEqual(created.toSorted(), ["a", "b"]);
  assert.deepEqual(calls, ["create a,b", "create a,b", "create a,b"]);
});

Deno.test("ensureTopics() creates only what is missing and reports only what it created", async () => {
  const { admin, calls } = slowCluster({ existsAlready: ["a"] });
  assert.deepEqual(await ensureTopics(admin, defs, { timeoutMs: 1000, intervalMs: 1 }), ["b"]);
  assert.deepEqual(calls, ["create b"]);
});

Deno.test("ensureTopics() gives up after its ceiling, saying why", async () => {
  const { admin } = slowCluster({ failCreates: Number.MAX_SAFE_INTEGER });
  await assert.rejects(ensureTopics(admin, defs, { timeoutMs: 50, intervalMs: 5 }), (error) => {
    assert.ok(error instanceof WaitTimeoutError);
    assert.match(
      error.message,
      /^Cannot wait for topics a, b to have a leader for every partition: not ready after 0 s: Request CreateTopics\(key: 19, version: 3\) timed out$/,
    );
    return true;
  });
});

Deno.test("orderTopics() and purchaseTopics() follow the configuration; the state topic is compacted", () => {
  const config = loadConfig({ TOPIC_PARTITIONS: "3", TOPIC_REPLICATION_FACTOR: "3" });
  assert.deepEqual(orderTopics(config).map((t) => [t.name, t.partitions, t.replicationFactor]), [
    ["order_requests", 3, 3],
    ["order_processing", 3, 3],
    ["order_notifications", 3, 3],
    ["order_mail_retries", 3, 3],
    ["despacho_dead_letter", 3, 3],
    ["order_status", 3, 3],
    ["order_erasures", 3, 3],
  ]);
  const status = orderTopics(config).find((t) => t.name === "order_status");
  assert.equal(status?.configs?.["cleanup.policy"], "compact,delete");
  // Erasure requests outlive every record of their order: compacted, never deleted.
  const erasures = orderTopics(config).find((t) => t.name === "order_erasures");
  assert.deepEqual(erasures?.configs, { "cleanup.policy": "compact" });
  const state = purchaseTopics(config).find((t) => t.name === "purchase_analytics_state");
  assert.equal(state?.configs?.["cleanup.policy"], "compact");
});

Deno.test("every topic holding personal data keeps it for PERSONAL_DATA_RETENTION_MS, the others hold none", () => {
  const config = loadConfig({ PERSONAL_DATA_RETENTION_MS: String(3 * 86_400_000) });
  const all = despachoTopics(config);
  const kept = new Map(all.map((t) => [t.name, t.configs?.["retention.ms"] ?? null]));
  assert.deepEqual(Object.fromEntries(kept), {
    order_requests: "259200000",
    order_processing: "259200000",
    order_notifications: "259200000",
    order_mail_retries: "259200000",
    despacho_dead_letter: "259200000",
    // The order's lasting status (its name and mail address with it): on purpose as long as the
    // business keeps order status, ORDER_STATUS_RETENTION_MS (a year by default).
    order_status: "31536000000",
    // Order ids and times, kept for good (they must outlive every record of the order).
    order_erasures: null,
    purchase_events: "259200000",
    purchase_notifications: "259200000",
    purchase_mail_retries: "259200000",
    // Counts per window, a checkpoint of counts, mail outcomes without address: no person.
    purchase_analytics: null,
    purchase_analytics_state: null,
    purchase_mail: null,
  });
  assert.throws(
    () => loadConfig({ PERSONAL_DATA_RETENTION_MS: "3600000" }),
    /PERSONAL_DATA_RETENTION_MS/,
  );
});
