import assert from "node:assert/strict";
import { ACCESS_ENV } from "../../infra/test_access.ts";
import { type Config, loadConfig } from "../../lib/config.ts";
import { createKafkaClient } from "../../lib/kafka/mod.ts";
import { createLogger } from "../../lib/log.ts";
import type { OrderRequested } from "../../lib/order.ts";
import { startGateway } from "../../gateway/server.ts";
import {
  produce,
  readTopic,
  testBrokers,
  testClientName,
  topicEnv,
  uniqueName,
  until,
} from "../../infra/testing.ts";
import { run as runNotification } from "../notification.ts";
import { run as runProcessing } from "../processing.ts";
import type { Role } from "../role.ts";

const log = createLogger("dedupe", "error");

/** The two roles on `config`, in this process; `stop()` ends them. */
function startRoles(config: Config) {
  const stop = new AbortController();
  const start = (role: Role, name: string) =>
    role({
      config,
      log: log.child(name),
      kafka: createKafkaClient(config, log),
      signal: stop.signal,
    });
  const roles = [start(runProcessing, "processing"), start(runNotification, "notification")];
  return async () => {
    stop.abort();
    await Promise.all(roles);
  };
}

Deno.test({
  name:
    "one order per key: the same Idempotency-Key on two gateways, and a request written again after a processing restart, make one order",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const brokers = await testBrokers();
    const config = loadConfig({
      KAFKA_BROKERS: brokers,
      KAFKA_CLIENT: testClientName(),
      ...topicEnv(uniqueName("dedupe")),
      ...ACCESS_ENV,
      TOPIC_PARTITIONS: "3",
      INSTANCE_ID: "dedupe",
      STAGE_DWELL_MS: "0",
      OUTBOX_DIR: await Deno.makeTempDir(),
      PORT: "0",
    });
    const gateways: Awaited<ReturnType<typeof startGateway>>[] = [];
    let stopRoles = () => Promise.resolve();
    try {
      const one = await startGateway(config, log);
      gateways.push(one);
      const two = await startGateway(config, log);
      gateways.push(two);
      stopRoles = startRoles(config);
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
      stopRoles = startRoles(config);
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
