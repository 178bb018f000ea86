/**
 * `GET /metrics`: every metric of this process in Prometheus text format, for staff (Prometheus
 * scrapes with the staff token as its bearer credential). What is measured, and how, is
 * `telemetry.ts` and `lib/metrics.ts`.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { METRICS_CONTENT_TYPE, registry } from "../lib/metrics.ts";

/**
 * The metrics route.
 *
 * @param staff The staff audience's guard.
 * @returns A Hono app to mount at `/`.
 */
export function createMetricsRoutes(staff: MiddlewareHandler): Hono {
  const app = new Hono();
  app.get("/metrics", staff, async function metrics(c) {
    return c.body(await registry.metrics(), 200, { "content-type": METRICS_CONTENT_TYPE });
  });
  return app;
}
