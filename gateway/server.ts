/**
 * The gateway with its Kafka parts: topics ensured, publisher and view consumer running, HTTP
 * served. `gateway/main.ts` runs it; integration tests start it in-process.
 */
import type { Hono } from "hono";
import type { Config } from "../lib/config.ts";
import { createKafka } from "../lib/kafka.ts";
import type { Logger } from "../lib/log.ts";
import { OrderNotifiedSchema, OrderTransitionSchema } from "../lib/order.ts";
import { OrderView } from "../lib/order_view.ts";
import { ensureTopics, orderTopics, purchaseTopics } from "../lib/topics.ts";
import { Admission } from "./admission.ts";
import { AnalyticsRecordSchema, AnalyticsView, createAnalyticsRoutes } from "./analytics.ts";
import { createApp } from "./app.ts";
import { Drain } from "./drain.ts";
import { createKafkaPublisher } from "./publisher.ts";
import { createPurchaseRoutes } from "./purchases.ts";
import { startViewConsumer } from "./view_consumer.ts";

/** A running gateway. */
export interface RunningGateway {
  /** `http://host:port`. */
  url: string;
  /**
   * Stops gracefully: new requests get 503 while those in flight and their writes finish (at most
   * `DRAIN_TIMEOUT_MS`), then stops serving and disconnects from Kafka.
   */
  stop(): Promise<void>;
}

/**
 * Starts the gateway.
 *
 * @param config The whole configuration (`PORT` 0 picks a free port).
 * @param log Logger.
 * @returns Where it listens, and how to stop it.
 */
export async function startGateway(config: Config, log: Logger): Promise<RunningGateway> {
  const kafka = createKafka(config, log);
  const admin = kafka.admin();
  await admin.connect();
  const created = await ensureTopics(admin, [...orderTopics(config), ...purchaseTopics(config)]);
  await admin.disconnect();
  if (created.length > 0) log.info("created topics", { topics: created });

  const view = new OrderView();
  const publisher = createKafkaPublisher(kafka, log);
  await publisher.start();
  const admission = new Admission(publisher, {
    maxPending: config.MAX_PENDING_PUBLISHES,
    ackTimeoutMs: config.KAFKA_ACK_TIMEOUT_MS,
  });
  const drain = new Drain();
  const analytics = new AnalyticsView();
  const reader = await startViewConsumer(kafka, {
    [config.TOPIC_ORDER_PROCESSING]: (json) =>
      apply(OrderTransitionSchema.safeParse(json), (t) => view.applyTransition(t)),
    [config.TOPIC_ORDER_NOTIFICATIONS]: (json) =>
      apply(OrderNotifiedSchema.safeParse(json), (n) => view.applyNotification(n)),
    [config.TOPIC_PURCHASE_ANALYTICS]: (json) =>
      apply(AnalyticsRecordSchema.safeParse(json), (r) => analytics.apply(r)),
  }, log);
  const mount: [string, Hono][] = [
    [
      "/purchases",
      createPurchaseRoutes({
        admission,
        topic: config.TOPIC_PURCHASES,
        maxBodyBytes: config.MAX_BODY_BYTES,
        maxBatchLines: config.MAX_BATCH_LINES,
      }),
    ],
    ["/analytics", createAnalyticsRoutes(analytics)],
  ];
  const app = createApp({
    config,
    admission,
    view,
    log,
    viewReady: reader.ready,
    mount,
    drain,
  });
  const server = Deno.serve(
    { hostname: config.HOST, port: config.PORT, onListen: () => {} },
    app.fetch,
  );
  const url = `http://${config.HOST}:${server.addr.port}`;
  log.info("listening", { url });
  return {
    url,
    async stop() {
      // Writes whose requests already had their 503 (ack timeout) still get their chance.
      const drained = await drain.drain(config.DRAIN_TIMEOUT_MS, () => admission.idle());
      if (!drained) {
        log.warn("stopping before every request or write finished", {
          requests: drain.inFlight,
          writes: admission.pending,
          drainTimeoutMs: config.DRAIN_TIMEOUT_MS,
        });
      }
      await server.shutdown();
      await reader.stop().catch(() => {});
      await publisher.stop();
    },
  };
}

function apply<T>(
  parsed: { success: true; data: T } | { success: false },
  use: (value: T) => unknown,
): boolean {
  if (parsed.success) use(parsed.data);
  return parsed.success;
}
