/**
 * `GET /healthz` (the process answers) and `GET /readyz` (Kafka takes writes and the order store is
 * caught up), for anyone: a probe carries no credential, and neither answer holds anything
 * personal.
 */
import { anyone } from "./audiences.ts";
import { Hono } from "hono";
import { HttpProblem } from "./problem.ts";
import type { Admission } from "./admission.ts";

/** The wait a probe is told before it asks again, as for Kafka being unavailable. */
const RETRY_AFTER_S = "2";

/** What {@linkcode createHealthRoutes} reads. */
export interface HealthRoutesDeps {
  /** Whether Kafka takes writes. */
  admission: Pick<Admission, "ready">;
  /** Whether the read side (the view consumer) is running. @default always */
  viewReady?: () => boolean;
}

/**
 * The probe routes.
 *
 * @param deps What readiness reads.
 * @returns A Hono app to mount at `/`.
 */
export function createHealthRoutes(deps: HealthRoutesDeps): Hono {
  const { admission } = deps;
  const viewReady = deps.viewReady ?? (() => true);
  const app = new Hono();
  app.get("/healthz", anyone, (c) => c.json({ status: "ok" }));
  app.get("/readyz", anyone, (c) => {
    const kafka = admission.ready();
    const reading = viewReady();
    if (kafka && reading) return c.json({ ready: true });
    throw new HttpProblem(
      503,
      "Not ready",
      `Not ready: kafka writes ${kafka ? "ok" : "unavailable"}, order store ${
        reading ? "ok" : "not caught up"
      }`,
      {
        headers: { "Retry-After": RETRY_AFTER_S },
      },
    );
  });
  return app;
}
