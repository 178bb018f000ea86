/**
 * Trace context with tracing off (no OTEL_DENO: the OpenTelemetry API is a no-op): the gateway and
 * the roles still carry a `traceparent` on every record, so one order is one trace id everywhere.
 * `observability_test.ts` runs the same path with Deno's tracer on and checks the spans.
 */
import assert from "node:assert/strict";
import { type Config, loadConfig } from "../../lib/config.ts";
import { createLogger } from "../../lib/log.ts";
import { parseTraceparent, traceIdOf } from "../../lib/tracing.ts";
import { startGateway } from "../../gateway/server.ts";
import { readTopic, testEnv, type TopicRecord, until } from "../../infra/testing.ts";
import { run as runNotification } from "../notification.ts";
import { run as runProcessing } from "../processing.ts";
import { startRoles } from "./_roles.ts";
import { startSmtp } from "../../infra/smtp.ts";

const log = createLogger("trace", "error");

/** The trace ids on one order's records of a topic (keyed by order id). */
function traceIds(records: TopicRecord[], id: string): (string | null)[] {
  return records.filter((r) => r.key === id).map((r) => traceIdOf(r.headers.traceparent));
}

Deno.test({
  name:
    "trace context, tracing off: one trace id on the request, every record of the order, and GET /orders/{id}",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const smtp = await startSmtp();
    const config: Config = loadConfig(
      await testEnv("trace", {
        TOPIC_PARTITIONS: "2",
        INSTANCE_ID: "trace",
        PORT: "0",
        STAGE_DWELL_MS: "0",
        SMTP_URL: smtp.url,
      }),
    );
    const brokers = config.KAFKA_BROKERS.join(",");
    const gateway = await startGateway(config, log);
    const roles = startRoles(config, log, {
      processing: runProcessing,
      notification: runNotification,
    });
    try {
      // One mail of the first order is refused once: its retry record must carry the trace too.
      smtp.failNext(1);
      const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
      const orders: { id: string; traceId: string }[] = [];
      for (const headers of [{ traceparent: incoming }, {}]) {
        const res = await fetch(`${gateway.url}/orders`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify({ name: "Completo", price: 3500, email: "a@example.cl" }),
        });
        assert.equal(res.status, 202);
        const { id } = await res.json();
        const answered = parseTraceparent(res.headers.get("traceresponse"));
        assert.ok(answered !== null, "the answer names the order's trace");
        orders.push({ id, traceId: answered.traceId });
      }
      assert.equal(orders[0]!.traceId, traceIdOf(incoming), "an incoming trace is continued");
      assert.notEqual(orders[1]!.traceId, orders[0]!.traceId, "no traceparent: a trace of its own");

      for (const { id, traceId } of orders) {
        const status = await until(`order ${id} to be notified four times`, async () => {
          const body = await (await fetch(`${gateway.url}/orders/${id}`)).json();
          return body.notifications.length === 4 ? body : undefined;
        });
        assert.equal(status.traceId, traceId);
      }
      const [requests, transitions, notified, retries] = await Promise.all([
        readTopic(brokers, config.TOPIC_ORDER_REQUESTS, 2),
        readTopic(brokers, config.TOPIC_ORDER_PROCESSING, 8),
        readTopic(brokers, config.TOPIC_ORDER_NOTIFICATIONS, 8),
        readTopic(brokers, config.TOPIC_MAIL_RETRIES, 1),
      ]);
      for (const { id, traceId } of orders) {
        assert.deepEqual(traceIds(requests, id), [traceId], `order_requests of ${id}`);
        assert.deepEqual(traceIds(transitions, id), Array(4).fill(traceId), `transitions of ${id}`);
        assert.deepEqual(traceIds(notified, id), Array(4).fill(traceId), `notifications of ${id}`);
      }
      assert.equal(retries.length, 1);
      const retried = orders.find((o) => o.id === retries[0]!.key)!;
      assert.equal(traceIdOf(retries[0]!.headers.traceparent), retried.traceId);
    } finally {
      await roles.stop();
      await gateway.stop();
      await smtp.close();
    }
  },
});
