/**
 * The gateway with its Kafka parts: topics ensured, publisher and view consumer running, HTTP
 * served. `gateway/main.ts` runs it; integration tests start it in-process.
 */
import type { Config } from "../lib/config.ts";
import { createKafkaClient, orderTopics, purchaseTopics } from "../lib/kafka/mod.ts";
import type { Logger } from "../lib/log.ts";
import { OrderNotifiedSchema, OrderTransitionSchema } from "../lib/order.ts";
import { OrderView } from "../lib/order_view.ts";
import { PurchaseAnalyticsRecordSchema } from "../lib/purchase.ts";
import { AnalyticsView } from "./analytics.ts";
import { createKafkaPublisher } from "./publisher.ts";
import { createGatewayApp } from "./routes.ts";
import { startViewConsumer } from "./view_consumer.ts";

/** A running gateway. */
export interface RunningGateway {
  /** `http://host:port`. */
  url: string;
  /** Stops serving, then disconnects from Kafka. */
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
  const kafka = createKafkaClient(config, log);
  const created = await kafka.ensureTopics([...orderTopics(config), ...purchaseTopics(config)], {
    timeoutMs: config.STARTUP_TIMEOUT_MS,
    say: (line) => log.info(line),
  });
  if (created.length > 0) log.info("created topics", { topics: created });

  const view = new OrderView();
  const publisher = createKafkaPublisher(kafka, log, config.KAFKA_ACK_TIMEOUT_MS);
  await publisher.start();
  const analytics = new AnalyticsView();
  const reader = await startViewConsumer(kafka, {
    [config.TOPIC_ORDER_PROCESSING]: (json) =>
      apply(OrderTransitionSchema.safeParse(json), (t) => view.applyTransition(t)),
    [config.TOPIC_ORDER_NOTIFICATIONS]: (json) =>
      apply(OrderNotifiedSchema.safeParse(json), (n) => view.applyNotification(n)),
    [config.TOPIC_PURCHASE_ANALYTICS]: (json) =>
      apply(PurchaseAnalyticsRecordSchema.safeParse(json), (r) => analytics.apply(r)),
  }, log);
  const app = createGatewayApp({
    config,
    publisher,
    view,
    analytics,
    log,
    viewReady: reader.ready,
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
      await server.shutdown();
      await reader.stop().catch(() => {});
      await publisher.stop();
      await kafka.close();
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
