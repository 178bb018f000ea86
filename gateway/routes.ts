/**
 * The gateway's HTTP surface, composed: the root app with the middleware every request passes
 * (telemetry, the drain, per-client limits), each resource mounted at its path, and the one place
 * errors become `application/problem+json` answers (`onError`). Each resource is a file named after
 * it, its routes declaring their audience beside them: `health.ts`, `orders.ts` (its erasure in
 * `order_erasure.ts`), `purchases.ts`, `purchase_analytics.ts`, `web.ts`, `docs.ts`, `metrics.ts`,
 * `auth/sign_in.ts`. `server.ts` serves the app; tests build the same app without Kafka.
 */
import { Hono } from "hono";
import type { Config } from "../lib/config.ts";
import { DespachoError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import type { OrderReadModel } from "./order_view.ts";
import { HttpProblem } from "./problem.ts";
import type { Access } from "./access.ts";
import type { Admission } from "./admission.ts";
import { createPurchaseAnalyticsRoutes, type PurchaseAnalyticsView } from "./purchase_analytics.ts";
import { createDocsRoutes } from "./docs.ts";
import type { Drain } from "./drain.ts";
import { createHealthRoutes } from "./health.ts";
import { createMetricsRoutes } from "./metrics.ts";
import { createOrderErasureRoutes } from "./order_erasure.ts";
import { createOrderRoutes } from "./orders.ts";
import { createPurchaseRoutes } from "./purchases.ts";
import { clientLimits, type LimitedRoute } from "./rate_limit.ts";
import { telemetry } from "./telemetry.ts";
import { createWebRoutes } from "./web.ts";

/** What {@linkcode createGatewayApp} wires together. */
export interface GatewayAppDeps {
  /** The gateway's configuration (`/asyncapi.json` describes its topics and brokers). */
  config: Config;
  /** Writes to Kafka, bounded in number and in waiting time. */
  admission: Admission;
  view: OrderReadModel;
  analytics: PurchaseAnalyticsView;
  log: Logger;
  /** Who may call what: each route gets its audience's guard. */
  access: Access;
  /** Whether the read side (the view consumer) is running. @default always */
  viewReady?: () => boolean;
  /** Refuses new requests with 503 once the gateway is stopping. @default none */
  drain?: Drain;
}

/** A resource's routes and the path they are mounted at. */
export type Mount = readonly [path: string, routes: Hono];

/** What the root app puts around every resource. */
export interface RootOptions {
  /** Where unhandled errors and 5xx answers are logged. */
  log: Logger;
  /** Refuses new requests with 503 once the gateway is stopping. @default none */
  drain?: Drain;
  /** Per-client limits (`rate_limit.ts`), registered ahead of the routes they guard. @default none */
  limits?: readonly LimitedRoute[];
}

const RETRY_AFTER_S = "2";
/** An overloaded gateway frees slots as Kafka acknowledges: a second is plenty. */
const OVERLOADED_RETRY_AFTER_S = "1";

/**
 * Builds the gateway's whole HTTP surface.
 *
 * @param deps Admission, views, configuration, logger, access control.
 * @returns The app; serve it with `Deno.serve(app.fetch)`.
 */
export function createGatewayApp(deps: GatewayAppDeps): Hono {
  const { config, admission, view, analytics, log, access } = deps;
  const { staff, service } = access.guards;
  const orders = createOrderRoutes({
    config,
    admission,
    view,
    staff,
    audit: log.child("audit"),
    idFromKey: access.idFromKey,
  });
  const erasure = createOrderErasureRoutes({
    view,
    admission,
    topic: config.TOPIC_ORDER_ERASURES,
    staff,
    audit: log.child("audit"),
  });
  const purchases = createPurchaseRoutes({
    admission,
    topic: config.TOPIC_PURCHASES,
    maxBodyBytes: config.MAX_BODY_BYTES,
    maxBatchLines: config.MAX_BATCH_LINES,
    service,
  });
  const health = createHealthRoutes({
    admission,
    ...(deps.viewReady === undefined ? {} : { viewReady: deps.viewReady }),
  });
  return createRootApp([
    ["/", health],
    ["/orders", orders],
    // `DELETE /orders/{id}`, the order's erasure (`order_erasure.ts`).
    ["/orders", erasure],
    ["/purchases", purchases],
    ["/analytics", createPurchaseAnalyticsRoutes(analytics, staff)],
    ["/", createWebRoutes()],
    ["/", createDocsRoutes(config, staff)],
    ["/", createMetricsRoutes(staff)],
    ...(access.signIn === null ? [] : [["/", access.signIn] as const]),
  ], {
    log,
    ...(deps.drain === undefined ? {} : { drain: deps.drain }),
    limits: clientLimits(config),
  });
}

/**
 * The root app: telemetry first, then the drain and the per-client limits, then each resource at
 * its path; a path no resource answers is a 404 problem, and every error is answered by `onError`.
 *
 * @param resources The resources, mounted in this order.
 * @param options The logger, and the drain and limits when there are any.
 * @returns The app.
 */
export function createRootApp(resources: readonly Mount[], options: RootOptions): Hono {
  const { log } = options;
  const app = new Hono();
  app.use(telemetry({ problemOf: toProblem }));
  if (options.drain !== undefined) app.use(options.drain.middleware());
  for (const [method, path, limit] of options.limits ?? []) app.on(method, path, limit);
  for (const [path, routes] of resources) app.route(path, routes);

  app.notFound((c) => {
    throw new HttpProblem(
      404,
      "Not found",
      `Cannot ${c.req.method} ${new URL(c.req.url).pathname}: no such resource`,
    );
  });

  app.onError(function toResponse(error, c) {
    const problem = toProblem(error);
    if (problem.status === 500 && !(error instanceof HttpProblem)) {
      log.error("unhandled error", {
        error,
        method: c.req.method,
        path: new URL(c.req.url).pathname,
      });
    }
    if (problem.status >= 500 && problem.status !== 503) {
      log.error("request failed", { status: problem.status, detail: problem.message });
    }
    const hop = c.get("hop");
    return new Response(JSON.stringify(problem.problem), {
      status: problem.status,
      headers: {
        "content-type": "application/problem+json",
        ...problem.headers,
        ...(hop === undefined ? {} : { traceresponse: hop.traceparent }),
      },
    });
  });
  return app;
}

/**
 * The problem an error is answered with: an {@linkcode HttpProblem} as it is, Kafka unavailable as
 * 503, overload as 429, anything else as 500.
 *
 * @param error What a handler or middleware threw.
 * @returns The problem to answer.
 */
export function toProblem(error: Error): HttpProblem {
  if (error instanceof HttpProblem) return error;
  if (error instanceof DespachoError && error.code === "KAFKA_UNAVAILABLE") {
    return new HttpProblem(503, "Kafka unavailable", error.message, {
      headers: { "Retry-After": RETRY_AFTER_S },
    });
  }
  if (error instanceof DespachoError && error.code === "OVERLOADED") {
    return new HttpProblem(429, "Too many requests", error.message, {
      headers: { "Retry-After": OVERLOADED_RETRY_AFTER_S },
    });
  }
  return new HttpProblem(
    500,
    "Internal error",
    "Something went wrong on our side; it has been logged",
  );
}
