/**
 * The order API alone on the gateway's root app, for tests of the orders resource and of what the
 * root app puts around every route (telemetry, the drain, limits, problem answers): the probes and
 * `/orders` as the gateway mounts them, with guards that let everyone through, and any extra
 * resource a test mounts after them. `gateway/routes.ts` composes the whole gateway the same way.
 */
import type { Hono } from "hono";
import type { Logger } from "../lib/log.ts";
import type { Drain } from "../gateway/drain.ts";
import { createHealthRoutes } from "../gateway/health.ts";
import { createOrderRoutes, type OrderRoutesDeps } from "../gateway/orders.ts";
import type { LimitedRoute } from "../gateway/rate_limit.ts";
import { createRootApp, type Mount } from "../gateway/routes.ts";
import { OPEN_GUARDS } from "./test_access.ts";

/** What {@linkcode orderApp} wires together. */
export interface OrderAppDeps extends Omit<OrderRoutesDeps, "staff"> {
  log: Logger;
  /** Whether the read side (the view consumer) is running. @default always */
  viewReady?: () => boolean;
  /** Refuses new requests with 503 once the gateway is stopping. @default none */
  drain?: Drain;
  /** Per-client limits, registered ahead of the routes they guard. @default none */
  limits?: readonly LimitedRoute[];
  /** More resources, mounted after the order API: `[["/purchases", routes]]`. @default none */
  mount?: readonly Mount[];
}

/**
 * Builds the probes and the order API on the root app.
 *
 * @param deps Admission, order store, configuration, logger; the rest optional.
 * @returns The app.
 */
export function orderApp(deps: OrderAppDeps): Hono {
  const { log, viewReady, drain, limits, mount, ...orders } = deps;
  return createRootApp([
    ["/", createHealthRoutes({ admission: deps.admission, ...(viewReady ? { viewReady } : {}) })],
    ["/orders", createOrderRoutes({ ...orders, staff: OPEN_GUARDS.staff })],
    ...(mount ?? []),
  ], {
    log,
    ...(drain === undefined ? {} : { drain }),
    ...(limits === undefined ? {} : { limits }),
  });
}
