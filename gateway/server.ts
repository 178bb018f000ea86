/**
 * The gateway with its Kafka parts: topics ensured, publisher and view consumer running, HTTP
 * served. `gateway/main.ts` runs it; integration tests start it in-process.
 */
import type { Hono } from "hono";
import type { Config } from "../lib/config.ts";
import { createKafka } from "../lib/kafka.ts";
import type { Logger } from "../lib/log.ts";
import { OrderView } from "../lib/order_view.ts";
import { ensureTopics, orderTopics } from "../lib/topics.ts";
import { createApp } from "./app.ts";
import { createKafkaPublisher } from "./publisher.ts";
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
  const kafka = createKafka(config, log);
  const admin = kafka.admin();
  await admin.connect();
  const created = await ensureTopics(admin, orderTopics(config));
  await admin.disconnect();
  if (created.length > 0) log.info("created topics", { topics: created });

  const view = new OrderView();
  const publisher = createKafkaPublisher(kafka, log, config.KAFKA_ACK_TIMEOUT_MS);
  await publisher.start();
  const reader = await startViewConsumer(
    kafka,
    { processing: config.TOPIC_ORDER_PROCESSING, notifications: config.TOPIC_ORDER_NOTIFICATIONS },
    view,
    log,
  );
  const mount: [string, Hono][] = [];
  const app = createApp({ config, publisher, view, log, viewReady: reader.ready, mount });
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
    },
  };
}
