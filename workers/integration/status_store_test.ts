import assert from "node:assert/strict";
import { type Config, loadConfig } from "../../lib/config.ts";
import { createLogger } from "../../lib/log.ts";
import { startGateway } from "../../gateway/server.ts";
import { STAFF_HEADERS } from "../../infra/test_access.ts";
import { testEnv, until } from "../../infra/testing.ts";
import { run as runNotification } from "../notification.ts";
import { run as runProcessing } from "../processing.ts";
import { startRoles } from "./_roles.ts";

const quiet = createLogger("status-store", "error");

/** The two order roles on `config`, in this process; returns what stops them. */
const startOrderRoles = (config: Config) =>
  startRoles(config, quiet, { processing: runProcessing, notification: runNotification }).stop;

const body = (i: number) =>
  JSON.stringify({ name: `Pedido ${i}`, price: 1000 + i, email: `c${i}@example.cl` });

async function place(url: string, i: number): Promise<string> {
  const res = await fetch(`${url}/orders`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: body(i),
  });
  assert.equal(res.status, 202);
  return ((await res.json()) as { id: string }).id;
}

async function status(url: string, id: string): Promise<{ code: number; state?: string }> {
  const res = await fetch(`${url}/orders/${id}`);
  const json = (await res.json()) as { state?: string; notifications?: unknown[] };
  return { code: res.status, ...(json.state === undefined ? {} : { state: json.state }) };
}

/** Waits until every order is finalized with its four mails, as `url` answers. */
function finished(url: string, ids: readonly string[]): Promise<true> {
  return until(`${ids.length} orders finalized with four mails at ${url}`, async () => {
    for (const id of ids) {
      const res = await fetch(`${url}/orders/${id}`);
      const json = (await res.json()) as { state?: string; notifications?: unknown[] };
      if (json.state !== "finalizado" || json.notifications?.length !== 4) return undefined;
    }
    return true;
  }, 120_000);
}

Deno.test({
  name:
    "order store: a restarted gateway resumes from its offsets and answers at once; a new or lost store is rebuilt from the compacted topic",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "status-store-" });
    const base = await testEnv("status", {
      TOPIC_PARTITIONS: "3",
      INSTANCE_ID: "status",
      STAGE_DWELL_MS: "0",
      // 25 orders from one address in a few seconds: no per-client limit here.
      ORDER_RATE_PER_S: "0",
      OUTBOX_DIR: await Deno.makeTempDir(),
      PORT: "0",
    });
    const storeA = `${dir}/a/order-store.sqlite`;
    const configA = loadConfig({ ...base, ORDER_STORE_PATH: storeA });
    const configB = loadConfig({ ...base, ORDER_STORE_PATH: `${dir}/b/order-store.sqlite` });
    const lines: string[] = [];
    const log = createLogger("gateway", "info", (line) => lines.push(line));
    let stopRoles = () => Promise.resolve();
    const running: { stop(): Promise<void> }[] = [];
    const start = async (config: Config) => {
      const g = await startGateway(config, log);
      running.push(g);
      return g;
    };
    const stop = async (g: { stop(): Promise<void> }) => {
      running.splice(running.indexOf(g), 1);
      await g.stop();
    };
    try {
      let a = await start(configA);
      stopRoles = startOrderRoles(configA);
      const first: string[] = [];
      for (let i = 0; i < 20; i++) first.push(await place(a.url, i));
      await finished(a.url, first);
      await stopRoles();
      await stop(a);
      const appliedBefore = 20 * 8;

      // While A is down, another instance (its own, new store) takes five more orders.
      const b = await start(configB);
      stopRoles = startOrderRoles(configA);
      const later: string[] = [];
      for (let i = 20; i < 25; i++) later.push(await place(b.url, i));
      await finished(b.url, [...first, ...later]);
      await stopRoles();
      stopRoles = () => Promise.resolve();
      await stop(b);

      // A restarts from the offsets in its store: it reads only what was written since.
      lines.length = 0;
      a = await start(configA);
      const resumed = a.orderStoreApplied();
      assert.ok(
        resumed >= 5 * 8 && resumed < appliedBefore,
        `records applied after the restart: ${resumed} (the topic holds at least ${
          appliedBefore + 40
        })`,
      );
      assert.ok(lines.some((l) => l.includes("catching up the order store")), lines.join("\n"));
      // Ready means every order in the topic at start answers: the oldest and the newest, at once.
      assert.equal((await fetch(`${a.url}/readyz`)).status, 200);
      assert.deepEqual(await status(a.url, first[0]!), { code: 200, state: "finalizado" });
      assert.deepEqual(await status(a.url, later.at(-1)!), { code: 200, state: "finalizado" });
      const list =
        (await (await fetch(`${a.url}/orders?limit=100`, { headers: STAFF_HEADERS })).json()) as {
          orders: { id: string }[];
        };
      assert.equal(list.orders.length, 25);
      await stop(a);

      // The store file lost: rebuilt from the compacted topic, saying so.
      for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(storeA + suffix).catch(() => {});
      lines.length = 0;
      a = await start(configA);
      const rebuilt = a.orderStoreApplied();
      assert.ok(rebuilt >= 25 * 8, `records applied by the rebuild: ${rebuilt}`);
      assert.ok(lines.some((l) => l.includes("rebuilding the order store")), lines.join("\n"));
      const caught = lines.find((l) => l.includes("order store caught up"));
      assert.ok(caught !== undefined && JSON.parse(caught).orders === 25, caught ?? "no line");
      assert.deepEqual(await status(a.url, first[0]!), { code: 200, state: "finalizado" });
      assert.deepEqual(await status(a.url, later.at(-1)!), { code: 200, state: "finalizado" });
      assert.equal((await status(a.url, "no-such-order")).code, 404);

      // Erasure through the gateway: A forgets at once; B learns it from the status topic (the
      // marker processing writes); a rebuilt store never brings the order back.
      stopRoles = startOrderRoles(configA);
      const b2 = await start(configB);
      const erased = first[1]!;
      const anonymous = await fetch(`${a.url}/orders/${erased}`, { method: "DELETE" });
      assert.equal(anonymous.status, 401, "an anonymous caller erases nothing");
      await anonymous.body?.cancel();
      const del = await fetch(`${a.url}/orders/${erased}`, {
        method: "DELETE",
        headers: STAFF_HEADERS,
      });
      assert.equal(del.status, 202);
      await del.body?.cancel();
      assert.equal((await status(a.url, erased)).code, 404);
      await until(
        `order ${erased} erased at the other gateway`,
        async () => (await status(b2.url, erased)).code === 404 ? true : undefined,
      );
      assert.deepEqual(await status(b2.url, first[0]!), { code: 200, state: "finalizado" });
      await stop(a);
      for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(storeA + suffix).catch(() => {});
      lines.length = 0;
      a = await start(configA);
      const recaught = lines.find((l) => l.includes("order store caught up"));
      assert.ok(
        recaught !== undefined && JSON.parse(recaught).orders === 24,
        recaught ?? "no line",
      );
      assert.equal((await status(a.url, erased)).code, 404, "not brought back by a rebuild");
      assert.deepEqual(await status(a.url, first[0]!), { code: 200, state: "finalizado" });
    } finally {
      await stopRoles();
      for (const g of running) await g.stop().catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
