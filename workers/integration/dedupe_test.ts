import assert from "node:assert/strict";
import { type Config, loadConfig } from "../../lib/config.ts";
import { createLogger } from "../../lib/log.ts";
import type { OrderRequested } from "../../lib/order.ts";
import { startGateway } from "../../gateway/server.ts";
import { produce, readTopic, testEnv, until } from "../../infra/testing.ts";
import { run as runNotification } from "../notification.ts";
import { run as runProcessing } from "../processing.ts";
import { startRoles } from "./_roles.ts";

const log = createLogger("dedupe", "error");

/** The two order roles on `config`, in this process; returns what stops them. */
const startOrderRoles = (config: Config) =>
  startRoles(config, log, { processing: runProcessing, notification: runNotification }).stop;

Deno.test({
  name:
    "one order per key: the same Idempotency-Key on two gateways, and a request written again after a processing restart, make one order",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const config = loadConfig(
      await testEnv("dedupe", {
        TOPIC_PARTITIONS: "3",
        INSTANCE_ID: "dedupe",
        STAGE_DWELL_MS: "0",
        OUTBOX_DIR: await Deno.makeTempDir(),
        PORT: "0",
      }),
    );
    const brokers = config.KAFKA_BROKERS.join(",");
    const gateways: Awaited<ReturnType<typeof startGateway>>[] = [];
    let stopRoles = () => Promise.resolve();
    try {
      const one = await startGateway(config, log);
      gateways.push(one);
      const two = await startGateway(config, log);
      gateways.push(two);
      stopRoles = startOrderRoles(config);
      const body = JSON.stringify({ name: "Churrasco", price: 6990, email: "a@b.cl" });
      const post = (url: string) =>
        fetch(`${url}/orders`, {
          method: "POST",
          headers: { "content-type": "application/json", "Idempotency-Key": "clave-1" },
          body,
        }).then(async (r) => ({ status: r.status, id: (await r.json()).id as string }));
      const [a, b] = await Promise.all([post(one.url), post(two.url)]);
      assert.deepEqual([a.status, b.status], [202, 202]);
      assert.equal(a.id, b.id, "both gateways derive the same order id from the key");
      await until("the order to finish", async () => {
        const s = await (await fetch(`${one.url}/orders/${a.id}`)).json();
        return s.state === "finalizado" && s.notifications.length === 4 ? true : undefined;
      });

      // The processing role restarts (its memory is gone), then a copy of the request arrives,
      // as a gateway retry after a 503 whose first write had gone through would write it.
      await stopRoles();
      stopRoles = startOrderRoles(config);
      const copy: OrderRequested = {
        v: 1,
        type: "OrderRequested",
        id: a.id,
        order: JSON.parse(body),
        requestedAt: new Date().toISOString(),
      };
      await produce(brokers, [{
        topic: config.TOPIC_ORDER_REQUESTS,
        key: a.id,
        value: JSON.stringify(copy),
      }]);
      const letters = await readTopic(brokers, config.TOPIC_DEAD_LETTER, 2, 30_000, 2_000);
      assert.equal(letters.length, 2, "both copies are recorded as duplicates");
      for (const l of letters) {
        assert.match(JSON.parse(l.value).reason, /already taken \(a duplicate request\)$/);
      }
      const transitions = await readTopic(brokers, config.TOPIC_ORDER_PROCESSING, 4, 10_000);
      assert.deepEqual(
        transitions.map((t) => JSON.parse(t.value).state),
        ["recibido", "preparando", "entregando", "finalizado"],
        "one order: four transitions, none twice",
      );
      const notified = await readTopic(brokers, config.TOPIC_ORDER_NOTIFICATIONS, 4, 10_000);
      assert.equal(notified.length, 4, "four mails");
    } finally {
      await stopRoles();
      for (const g of gateways) await g.stop();
    }
  },
});
