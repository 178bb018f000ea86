/**
 * Every route of the gateway in one Hono app: the order API of `app.ts` with the purchase,
 * analytics, order-list, web-page, API-docs and metrics routes mounted on it. `server.ts` serves it; tests
 * build the same app without Kafka.
 */
import type { Hono } from "hono";
import type { Config } from "../lib/config.ts";
import type { Logger } from "../lib/log.ts";
import type { OrderReadModel } from "../lib/order_view.ts";
import { type AnalyticsView, createAnalyticsRoutes } from "./analytics.ts";
import { createApp } from "./app.ts";
import { createDocsRoutes } from "./openapi.ts";
import { createOrderErasureRoutes } from "./order_erasure.ts";
import { createOrderListRoutes } from "./order_list.ts";
import type { Admission } from "./admission.ts";
import type { Access } from "./access.ts";
import type { Drain } from "./drain.ts";
import { createPurchaseRoutes } from "./purchases.ts";
import { clientLimits } from "./rate_limit.ts";
import { createMetricsRoutes } from "./telemetry.ts";
import { createWebRoutes } from "./web.ts";

/** What {@linkcode createGatewayApp} wires together. */
export interface GatewayAppDeps {
  /** The gateway's configuration (`/asyncapi.json` describes its topics and brokers). */
  config: Config;
  /** Writes to Kafka, bounded in number and in waiting time. */
  admission: Admission;
  view: OrderReadModel;
  analytics: AnalyticsView;
  log: Logger;
  /** Who may call what: each route gets its audience's guard. */
  access: Access;
  /** Whether the read side (the view consumer) is running. @default always */
  viewReady?: () => boolean;
  /** Refuses new requests with 503 once the gateway is stopping. @default none */
  drain?: Drain;
}

/**
 * Builds the gateway's whole HTTP surface.
 *
 * @param deps Admission, views, configuration, logger.
 * @returns The app; serve it with `Deno.serve(app.fetch)`.
 */
export function createGatewayApp(deps: GatewayAppDeps): Hono {
  const { config, admission, view, analytics, log, access } = deps;
  const { staff, service } = access.guards;
  const mount: [string, Hono][] = [
    [
      "/purchases",
      createPurchaseRoutes({
        admission,
        topic: config.TOPIC_PURCHASES,
        maxBodyBytes: config.MAX_BODY_BYTES,
        maxBatchLines: config.MAX_BATCH_LINES,
        service,
      }),
    ],
    ["/analytics", createAnalyticsRoutes(analytics, staff)],
    ["/orders", createOrderListRoutes(view, staff, log.child("audit"))],
    [
      "/orders",
      createOrderErasureRoutes({
        view,
        admission,
        topic: config.TOPIC_ORDER_ERASURES,
        staff,
        audit: log.child("audit"),
      }),
    ],
    ["/", createWebRoutes()],
    ["/", createDocsRoutes(config, staff)],
    ["/", createMetricsRoutes(staff)],
    ...(access.signIn === null ? [] : [["/", access.signIn] as [string, Hono]]),
  ];
  return createApp({
    config,
    admission,
    view,
    log,
    idFromKey: access.idFromKey,
    ...(deps.viewReady === undefined ? {} : { viewReady: deps.viewReady }),
    ...(deps.drain === undefined ? {} : { drain: deps.drain }),
    limits: clientLimits(config),
    mount,
  });
}
