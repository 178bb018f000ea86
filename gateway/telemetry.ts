/**
 * The gateway's metrics and trace context, for every route: one middleware that times and counts
 * each request by its route pattern (`/orders/:id`, never the raw path) and status, counts orders
 * accepted and refused, and starts the request's hop (a server span continuing the request's
 * `traceparent`, or Deno.serve's span when that server runs). `metrics.ts` serves what it counts.
 *
 * Each traced answer carries a `traceresponse` header (W3C Trace Context Level 2): the trace id a
 * client can look for in its order's records, in `GET /orders/{id}` and in a tracing backend.
 */
import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { context, trace } from "@opentelemetry/api";
import {
  httpRequestDuration,
  httpRequests,
  ordersAccepted,
  ordersRefused,
} from "../lib/metrics.ts";
import { type Hop, newTraceparent, startHop, TRACEPARENT } from "../lib/tracing.ts";

declare module "hono" {
  interface ContextVariableMap {
    /** The request's hop: records it publishes carry `hop.traceparent` (or a child's). */
    hop: Hop;
  }
}

/** Routes answered without a span: scrapes and probes would fill a trace backend with noise. */
const UNTRACED = new Set(["/metrics", "/healthz", "/readyz"]);

/** The `route` label of a request no route matched: raw paths would make labels unbounded. */
export const UNMATCHED = "unmatched";

/** What {@linkcode telemetry} needs. */
export interface TelemetryOptions {
  /**
   * The problem an error becomes (what `app.onError` answers): its title is the `reason` of a
   * refused order; its status counts an error that reaches this middleware unanswered (one thrown
   * by the not-found handler).
   */
  problemOf(error: Error): { status: number; problem: { title: string } };
}

/**
 * The middleware to put first, before every other.
 *
 * @param options How an error's problem title is found.
 * @returns The Hono middleware.
 */
export function telemetry(options: TelemetryOptions): MiddlewareHandler {
  return async function observeRequest(c, next) {
    const started = performance.now();
    const path = c.req.path;
    const traced = !UNTRACED.has(path);
    let hop: Hop | undefined;
    if (traced) {
      // Named and described by its route once routed (`GET /orders/:id`), never by the path: an
      // order's id is the capability to read it, and a trace is read by more people than orders.
      hop = startHop(c.req.method, {
        parent: c.req.header(TRACEPARENT),
        // Under Deno.serve with tracing on, the runtime's own server span is the parent.
        parentContext: trace.getSpanContext(context.active()),
        kind: "server",
        attributes: { "http.request.method": c.req.method },
      });
      c.set("hop", hop);
    }
    let thrown: Error | undefined;
    try {
      await next();
    } catch (error) {
      thrown = error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      const error = thrown ?? c.error;
      const status = thrown === undefined ? c.res.status : options.problemOf(thrown).status;
      const route = routeOf(c);
      const seconds = (performance.now() - started) / 1000;
      const labels = [c.req.method, route, String(status)] as const;
      httpRequests.labels(...labels).inc();
      httpRequestDuration.labels(...labels).observe(seconds);
      if (c.req.method === "POST" && route === "/orders") {
        if (status === 202) ordersAccepted.inc();
        else if (status >= 400) {
          const title = error === undefined
            ? `HTTP ${status}`
            : options.problemOf(error).problem.title;
          ordersRefused.labels(slug(title), String(status)).inc();
        }
      }
      if (hop !== undefined) {
        hop.span.updateName(`${c.req.method} ${route}`);
        hop.span.setAttributes({ "http.route": route, "http.response.status_code": status });
        hop.end(status >= 500 ? (error ?? `HTTP ${status}`) : undefined);
        // An error still on its way to app.onError gets its header there.
        if (thrown === undefined) c.res.headers.set("traceresponse", hop.traceparent);
      }
    }
  };
}

/**
 * The request's `traceparent` for the records it publishes: its hop's, or a fresh one where the
 * app runs without {@linkcode telemetry} (unit tests of one route).
 *
 * @param hop `c.get("hop")`.
 */
export function traceparentOf(hop: Hop | undefined): string {
  return hop?.traceparent ?? newTraceparent();
}

/** The route pattern that answered (the last matched route that is not a middleware). */
function routeOf(c: Parameters<MiddlewareHandler>[0]): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const r = routes[i]!;
    if (r.method !== "ALL") return r.path;
  }
  return UNMATCHED;
}

/** `Invalid order` → `invalid_order`. */
function slug(title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "");
}
