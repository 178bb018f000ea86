/**
 * The gateway's HTTP API, built from injected parts so tests drive the real app with
 * `app.request()`.
 */
import { anyone, byLink } from "./audiences.ts";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { Config } from "../lib/config.ts";
import { DespachoError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { type OrderInput, OrderInputSchema, type OrderRequested } from "../lib/order.ts";
import type { OrderEvent, OrderReadModel } from "../lib/order_view.ts";
import { fieldErrors, HttpProblem } from "../lib/problem.ts";
import {
  bodyDigest,
  IdempotencyConflict,
  IdempotencyKeySchema,
  IdempotencyStore,
  orderIdsFromKeys,
  randomOrderId,
} from "./idempotency.ts";
import type { Admission } from "./admission.ts";
import { limitBody } from "./body_limit.ts";
import type { Drain } from "./drain.ts";
import type { LimitedRoute } from "./rate_limit.ts";
import { pushedItems } from "./sse.ts";
import { telemetry, traceparentOf } from "./telemetry.ts";
import { kafkaAttributes, startHop, TRACEPARENT } from "../lib/tracing.ts";

/** What {@linkcode createApp} wires together. */
export interface AppDeps {
  config:
    & Pick<Config, "TOPIC_ORDER_REQUESTS" | "MAX_BODY_BYTES">
    & Partial<Pick<Config, "ORDER_DEDUPE_WINDOW_MS">>;
  /** Writes to Kafka, bounded in number and in waiting time. */
  admission: Admission;
  view: OrderReadModel;
  log: Logger;
  /** Whether the read side (the view consumer) is running. @default always */
  viewReady?: () => boolean;
  /** Ids of orders without an Idempotency-Key. @default randomOrderId (128 random bits) */
  newId?: () => string;
  /**
   * Ids of orders with an Idempotency-Key, the same on every instance (`GATEWAY_SECRET`).
   * @default derived under a secret made for this app alone
   */
  idFromKey?: (key: string) => Promise<string>;
  /** The clock of Idempotency-Key ages. @default Date.now */
  now?: () => number;
  /** Extra routes mounted at a path: `[["/purchases", subApp]]`. */
  mount?: readonly (readonly [string, Hono])[];
  /** Refuses new requests with 503 once the gateway is stopping. @default none */
  drain?: Drain;
  /** Per-client limits (`rate_limit.ts`), registered ahead of the routes they guard. @default none */
  limits?: readonly LimitedRoute[];
}

const RETRY_AFTER_S = "2";
/** An overloaded gateway frees slots as Kafka acknowledges: a second is plenty. */
const OVERLOADED_RETRY_AFTER_S = "1";

/**
 * Builds the gateway's Hono app.
 *
 * @param deps Publisher, view, configuration, logger.
 * @returns The app; serve it with `Deno.serve(app.fetch)`.
 */
export function createApp(deps: AppDeps): Hono {
  const { config, admission, view, log } = deps;
  const newId = deps.newId ?? randomOrderId;
  const idFromKey = deps.idFromKey ?? orderIdsFromKeys(randomOrderId() + randomOrderId());
  const viewReady = deps.viewReady ?? (() => true);
  // A key is honoured as long as processing remembers the order it produced.
  const idempotency = new IdempotencyStore({
    ...(config.ORDER_DEDUPE_WINDOW_MS === undefined
      ? {}
      : { ttlMs: config.ORDER_DEDUPE_WINDOW_MS }),
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });
  const app = new Hono();
  app.use(telemetry({ problemOf: toProblem }));
  if (deps.drain !== undefined) app.use(deps.drain.middleware());
  for (const [method, path, limit] of deps.limits ?? []) app.on(method, path, limit);

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

  app.post(
    "/orders",
    anyone,
    // An overloaded gateway refuses before reading the body; the write takes its slot later.
    admission.guard(),
    limitBody(config.MAX_BODY_BYTES, "order"),
    async function postOrder(c) {
      const input = await readOrderBody(c.req.raw);
      const key = c.req.header("Idempotency-Key");
      if (key !== undefined && !IdempotencyKeySchema.safeParse(key).success) {
        throw new HttpProblem(
          400,
          "Invalid Idempotency-Key",
          "Cannot accept order: Idempotency-Key must be 1 to 200 visible ASCII characters",
          {
            errors: [{
              field: "Idempotency-Key",
              message: "must be 1 to 200 visible ASCII characters",
            }],
          },
        );
      }
      const create = async (id: string) => {
        const event: OrderRequested = {
          v: 1,
          type: "OrderRequested",
          id,
          order: input,
          requestedAt: new Date().toISOString(),
        };
        // The order's trace: this request's, continued by a producer span around the write.
        const send = startHop(`send ${config.TOPIC_ORDER_REQUESTS}`, {
          parent: traceparentOf(c.get("hop")),
          kind: "producer",
          attributes: {
            ...kafkaAttributes("send", config.TOPIC_ORDER_REQUESTS),
            "despacho.order.id": id,
          },
        });
        try {
          await admission.publish({
            topic: config.TOPIC_ORDER_REQUESTS,
            key: id,
            value: JSON.stringify(event),
            headers: { [TRACEPARENT]: send.traceparent },
          });
          send.end();
        } catch (error) {
          send.end(error);
          throw error;
        }
        view.accept(id, input, send.traceId);
        return id;
      };
      let id: string;
      if (key === undefined) {
        id = await create(newId());
      } else {
        const derived = await idFromKey(key);
        try {
          ({ id } = await idempotency.run(key, await bodyDigest(input), () => create(derived)));
        } catch (error) {
          if (error instanceof IdempotencyConflict) {
            throw new HttpProblem(422, "Idempotency-Key reused", error.message);
          }
          throw error;
        }
      }
      c.header("Location", `/orders/${id}`);
      return c.json({ id, state: view.get(id)?.state ?? "recibido", links: links(id) }, 202);
    },
  );

  app.get("/orders/:id", byLink, function getOrder(c) {
    const id = c.req.param("id");
    const status = view.get(id);
    if (status === undefined) throw notFound(id);
    return c.json({ ...status, links: links(id) });
  });

  app.get("/orders/:id/events", byLink, function orderEvents(c) {
    const id = c.req.param("id");
    const status = view.get(id);
    if (status === undefined) throw notFound(id);
    return streamSSE(c, async (stream) => {
      const events = pushedItems<OrderEvent>(stream, (push) => view.subscribe(id, push));
      try {
        // Already-reached states first, so a late subscriber misses nothing.
        const sent = new Set<number>();
        for (const entry of status.history) {
          sent.add(entry.seq);
          await stream.writeSSE({
            event: "state",
            id: String(entry.seq),
            data: JSON.stringify(entry),
          });
        }
        for (const entry of status.notifications) {
          await stream.writeSSE({ event: "notification", data: JSON.stringify(entry) });
        }
        for await (const event of status.state === "finalizado" ? [] : events) {
          // Erased: nothing more will be told of it, and nothing of it may be shown.
          if (event.kind === "erased") break;
          if (event.kind === "state") {
            if (sent.has(event.entry.seq)) continue;
            sent.add(event.entry.seq);
            await stream.writeSSE({
              event: "state",
              id: String(event.entry.seq),
              data: JSON.stringify(event.entry),
            });
            if (event.entry.state === "finalizado") break;
          } else {
            await stream.writeSSE({ event: "notification", data: JSON.stringify(event.entry) });
          }
        }
        await stream.writeSSE({
          event: "end",
          data: JSON.stringify({ id, state: view.get(id)?.state }),
        });
      } finally {
        events.close();
      }
    });
  });

  for (const [path, sub] of deps.mount ?? []) app.route(path, sub);

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

/** Reads and validates an order body, throwing the 4xx that names what is wrong. */
async function readOrderBody(request: Request): Promise<OrderInput> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new HttpProblem(
      415,
      "Unsupported media type",
      `Cannot accept order: content type must be application/json: current value is "${type}"`,
      {
        errors: [{ field: "content-type", message: "must be application/json" }],
      },
    );
  }
  const text = await request.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new HttpProblem(
      400,
      "Malformed JSON",
      `Cannot accept order: body is not valid JSON: ${(error as Error).message}`,
      {
        errors: [{ field: "(body)", message: "is not valid JSON" }],
      },
    );
  }
  const parsed = OrderInputSchema.safeParse(json);
  if (!parsed.success) {
    const errors = fieldErrors(parsed.error.issues);
    throw new HttpProblem(
      422,
      "Invalid order",
      `Cannot accept order: ${errors.map((e) => `${e.field} ${e.message}`).join("; ")}`,
      { errors },
    );
  }
  return parsed.data;
}

function notFound(id: string): HttpProblem {
  return new HttpProblem(404, "Order not found", `Cannot find order: no order has id "${id}"`);
}

function links(id: string) {
  return { self: `/orders/${id}`, events: `/orders/${id}/events` };
}
