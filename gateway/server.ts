/**
 * The gateway with its Kafka parts: topics ensured, publisher running, the order store (SQLite,
 * `ORDER_STORE_PATH`) caught up with the status topic and following it, HTTP served. `gateway/main.ts` runs it; integration tests start it in-process.
 */
import { dirname } from "node:path";
import type { Hono } from "hono";
import type { Config } from "../lib/config.ts";
import { createKafkaClient, despachoTopics } from "../lib/kafka/mod.ts";
import type { Logger } from "../lib/log.ts";
import { httpRequests } from "../lib/metrics.ts";
import { OrderStore } from "./order_store.ts";
import { PurchaseAnalyticsRecordSchema } from "../lib/purchase.ts";
import { settled, waitFor } from "../lib/wait.ts";
import { Admission } from "./admission.ts";
import { PurchaseAnalyticsView } from "./purchase_analytics.ts";
import { Drain } from "./drain.ts";
import { serveHttp1 } from "./http1.ts";
import { createKafkaPublisher } from "./publisher.ts";
import { type Access, createAccess } from "./access.ts";
import { createGatewayApp } from "./routes.ts";
import { startStatusConsumer, type StatusConsumer } from "./status_consumer.ts";
import { parsedWith, startViewConsumer } from "./view_consumer.ts";

/** A running gateway. */
export interface RunningGateway {
  /** `http://host:port`, or `https://host:port` with `TLS_CERT`. */
  url: string;
  /**
   * Stops gracefully: new requests get 503 while those in flight and their writes finish (at most
   * `DRAIN_TIMEOUT_MS`), then stops serving and disconnects from Kafka.
   */
  stop(): Promise<void>;
  /**
   * Records of the status topic applied to the order store since this start: what a restart read
   * (only what is new since the offsets it stored; everything after its store was lost).
   */
  orderStoreApplied(): number;
}

/**
 * Starts the gateway.
 *
 * @param config The whole configuration (`PORT` 0 picks a free port).
 * @param log Logger.
 * @param access Who may call what; built from `config` when not given (a gateway that could not
 *   protect its staff routes does not start).
 * @returns Where it listens, and how to stop it.
 */
export async function startGateway(
  config: Config,
  log: Logger,
  access: Access = createAccess(config, log),
): Promise<RunningGateway> {
  // One ceiling for the start (topics, producer, analytics view), each step waiting what is left;
  // the order store catches up with progress lines instead (a rebuild of a long history takes long).
  const deadline = Date.now() + config.STARTUP_TIMEOUT_MS;
  const waiting = () => ({
    timeoutMs: Math.max(0, deadline - Date.now()),
    intervalMs: 100,
    say: (line: string) => log.info(line),
  });
  const kafka = createKafkaClient(config, log);
  let publisher: ReturnType<typeof createKafkaPublisher> | null = null;
  let reader: ReturnType<typeof startViewConsumer> | null = null;
  let status: StatusConsumer | null = null;
  let store: OrderStore | null = null;
  let serving: RunningGateway | null = null;
  const analytics = new PurchaseAnalyticsView();
  try {
    const created = await kafka.ensureTopics(
      despachoTopics(config),
      { timeoutMs: config.STARTUP_TIMEOUT_MS, say: (line) => log.info(line) },
    );
    if (created.length > 0) log.info("created topics", { topics: created });
    // On a slow machine the broker may answer its admin requests before it serves the producer's
    // metadata: wait, saying so, within the same ceiling.
    const starting = createKafkaPublisher(kafka, log);
    publisher = starting;
    await waitFor("the producer to reach the brokers", async () => {
      await starting.start();
      return { ready: true, value: undefined };
    }, waiting());
    store = openStore(config);
    const orders = store;
    status = startStatusConsumer(kafka, orders, config.TOPIC_ORDER_STATUS, log, {
      retentionMs: config.ORDER_STATUS_RETENTION_MS,
      startupTimeoutMs: config.STARTUP_TIMEOUT_MS,
    });
    const following = status;
    reader = startViewConsumer(kafka, {
      [config.TOPIC_PURCHASE_ANALYTICS]: parsedWith(
        PurchaseAnalyticsRecordSchema,
        (r) => analytics.apply(r),
      ),
    }, log);
    const analyticsReader = reader;
    await waitFor(
      "the analytics view to read every partition",
      settled(reader.started, "starting"),
      waiting(),
    );
    // Served while the order store catches up (a rebuild of a large topic takes a while):
    // `/healthz` answers, `/readyz` says 503 until every order known at start answers.
    serving = serveStarted(config, log, {
      kafka,
      publisher,
      reader: analyticsReader,
      status: following,
      store: orders,
      analytics,
    }, access);
    await following.caughtUp;
  } catch (error) {
    // Nothing half-started is left behind (an in-process caller goes on after the failure).
    if (serving !== null) await serving.stop().catch(() => {});
    else {
      await status?.stop().catch(() => {});
      await reader?.stop().catch(() => {});
      await publisher?.stop().catch(() => {});
      await kafka.close().catch(() => {});
      store?.close();
    }
    throw error;
  }
  return serving;
}

/**
 * Opens the order store at `ORDER_STORE_PATH`, creating its directory.
 *
 * @param config Where, and which status topic it materialises.
 * @returns The store.
 */
function openStore(config: Pick<Config, "ORDER_STORE_PATH" | "TOPIC_ORDER_STATUS">): OrderStore {
  const path = config.ORDER_STORE_PATH;
  Deno.mkdirSync(dirname(path), { recursive: true });
  return new OrderStore(path, { topic: config.TOPIC_ORDER_STATUS });
}

/** The Kafka parts of a gateway whose start-up waits are over. */
interface Started {
  kafka: ReturnType<typeof createKafkaClient>;
  publisher: ReturnType<typeof createKafkaPublisher>;
  reader: ReturnType<typeof startViewConsumer>;
  status: StatusConsumer;
  store: OrderStore;
  analytics: PurchaseAnalyticsView;
}

function serveStarted(
  config: Config,
  log: Logger,
  started: Started,
  access: Access,
): RunningGateway {
  const { kafka, publisher, reader, status, store, analytics } = started;
  const admission = new Admission(publisher, {
    maxPending: config.MAX_PENDING_PUBLISHES,
    ackTimeoutMs: config.KAFKA_ACK_TIMEOUT_MS,
  });
  const drain = new Drain();
  const app = createGatewayApp({
    config,
    admission,
    view: store,
    analytics,
    log,
    access,
    viewReady: () => status.ready() && reader.ready(),
    drain,
  });
  const server = serveApp(app, config);
  const url = `${
    config.TLS_CERT === undefined ? "http" : "https"
  }://${config.HOST}:${server.addr.port}`;
  log.info("listening", { url, server: config.HTTP_SERVER });
  return {
    url,
    orderStoreApplied: () => status.applied(),
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
      await status.stop().catch(() => {});
      await reader.stop().catch(() => {});
      await publisher.stop();
      await kafka.close();
      store.close();
    },
  };
}

/** What {@linkcode serveApp} reads of the configuration. */
export type ServeConfig =
  & Pick<
    Config,
    | "HOST"
    | "PORT"
    | "HTTP_SERVER"
    | "MAX_REQUEST_HEADERS"
    | "HEADERS_TIMEOUT_MS"
    | "REQUEST_TIMEOUT_MS"
    | "KEEP_ALIVE_TIMEOUT_MS"
    | "MAX_BODY_BYTES"
  >
  & Partial<Pick<Config, "TLS_CERT" | "TLS_KEY">>;

/**
 * The `Strict-Transport-Security` every answer carries when the gateway serves HTTPS: browsers
 * then refuse plain HTTP to it for a year (a tracking link or a session never goes in clear).
 * Not `includeSubDomains`: other hosts of the shop's domain are not ours to decide for.
 */
export const HSTS = "max-age=31536000";

/**
 * Serves the gateway's app over HTTP/1.1 with the configured server and limits, over TLS (with
 * {@linkcode HSTS} on every answer) when given `TLS_CERT` and `TLS_KEY`. The app gets the
 * client's address as its env (`c.env.remoteAddr`), from either server.
 *
 * @param app The Hono app.
 * @param config Where to listen, which server, its limits, and the certificate.
 * @returns Where it listens, and its graceful stop.
 */
export function serveApp(
  app: Hono,
  config: ServeConfig,
): { addr: Deno.NetAddr; shutdown(): Promise<void> } {
  const tls = config.TLS_CERT !== undefined && config.TLS_KEY !== undefined
    ? { cert: config.TLS_CERT, key: config.TLS_KEY }
    : undefined;
  if (config.HTTP_SERVER === "deno") {
    const listen = { hostname: config.HOST, port: config.PORT, onListen: () => {} };
    if (tls === undefined) return Deno.serve(listen, app.fetch);
    return Deno.serve({ ...listen, ...tls }, async function withHsts(request, info) {
      const response = await app.fetch(request, info);
      try {
        response.headers.set("strict-transport-security", HSTS);
        return response;
      } catch {
        // A response with immutable headers (one fetched from elsewhere) is copied.
        const copy = new Response(response.body, response);
        copy.headers.set("strict-transport-security", HSTS);
        return copy;
      }
    });
  }
  return serveHttp1(app.fetch, {
    ...(tls === undefined ? {} : { tls, headers: [["strict-transport-security", HSTS]] }),
    hostname: config.HOST,
    port: config.PORT,
    maxHeaders: config.MAX_REQUEST_HEADERS,
    headersTimeoutMs: config.HEADERS_TIMEOUT_MS,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: config.KEEP_ALIVE_TIMEOUT_MS,
    maxBodyBytes: config.MAX_BODY_BYTES,
    // Refused before the app (its middleware counts the rest): no method or route is known.
    onRefused: (status) => httpRequests.labels("unknown", "refused", String(status)).inc(),
  });
}
