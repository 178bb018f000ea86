/**
 * The orders resource, every route under `/orders`:
 *
 * - `POST /orders` (anyone): place an order; 202 once Kafka has it, the same order again for a
 *   retry with the same `Idempotency-Key` and body.
 * - `GET /orders/{id}` and `GET /orders/{id}/events` (a customer, by link): the order and its
 *   moves as Server-Sent Events.
 * - `GET /orders` (staff): the orders this gateway knows, newest first, from its order store. With
 *   `watch=true` it is a Server-Sent Events stream instead: the latest orders first, then each
 *   order again every time it changes (new, a new state, a mail sent), so a page keeps a live list
 *   with one request.
 *
 * `DELETE /orders/{id}` (staff), the order's erasure, is `order_erasure.ts`, mounted beside these.
 * A new route of the resource goes in {@linkcode createOrderRoutes}, its audience beside it.
 */
import { anyone, byLink } from "./audiences.ts";
import { Hono, type MiddlewareHandler } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { Config } from "../lib/config.ts";
import type { Logger } from "../lib/log.ts";
import { type OrderInput, OrderInputSchema, type OrderRequested } from "../lib/order.ts";
import type { OrderEvent, OrderReadModel, OrderStatus } from "./order_view.ts";
import { fieldErrors, HttpProblem } from "./problem.ts";
import { kafkaAttributes, startHop, TRACEPARENT } from "../lib/tracing.ts";
import type { Admission } from "./admission.ts";
import type { Principal } from "./auth/mod.ts";
import { limitBody } from "./body_limit.ts";
import {
  bodyDigest,
  IdempotencyConflict,
  IdempotencyKeySchema,
  IdempotencyStore,
  orderIdsFromKeys,
  randomOrderId,
} from "./idempotency.ts";
import { LatestKeys, pushedItems } from "./sse.ts";
import { traceparentOf } from "./telemetry.ts";

/** What {@linkcode createOrderRoutes} wires together. */
export interface OrderRoutesDeps {
  config:
    & Pick<Config, "TOPIC_ORDER_REQUESTS" | "MAX_BODY_BYTES">
    & Partial<Pick<Config, "ORDER_DEDUPE_WINDOW_MS">>;
  /** Writes to Kafka, bounded in number and in waiting time. */
  admission: Admission;
  /** The orders the gateway keeps (its order store). */
  view: OrderReadModel;
  /** The staff audience's guard (the list holds every customer's name, address and mails). */
  staff: MiddlewareHandler;
  /**
   * Where staff reads leave their audit records: who (the credential's subject and kind), which
   * order ids, when (the line's time); never the data read. @default nowhere
   */
  audit?: Logger;
  /** Ids of orders without an Idempotency-Key. @default randomOrderId (128 random bits) */
  newId?: () => string;
  /**
   * Ids of orders with an Idempotency-Key, the same on every instance (`GATEWAY_SECRET`).
   * @default derived under a secret made for these routes alone
   */
  idFromKey?: (key: string) => Promise<string>;
  /** The clock of Idempotency-Key ages. @default Date.now */
  now?: () => number;
}

/** The query of `GET /orders`. */
export const OrderListQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20).meta({
    description: "How many of the latest orders to list (with `watch`, to send first)",
  }),
  watch: z.enum(["true", "false"]).default("false").meta({
    description: "`true` for a Server-Sent Events stream of every change instead of one answer",
  }),
});

/** An order as `GET /orders/{id}` answers it: its status and where to read more. */
export type LinkedOrder = OrderStatus & { links: { self: string; events: string } };

/**
 * The order with the links a client follows.
 *
 * @param status The order as the view holds it.
 * @returns The same fields plus `links.self` and `links.events`.
 */
export function linked(status: OrderStatus): LinkedOrder {
  return { ...status, links: links(status.id) };
}

/**
 * The `/orders` routes, each with its audience.
 *
 * @param deps Admission, order store, configuration, the staff guard.
 * @returns A Hono app to mount at `/orders`.
 */
export function createOrderRoutes(deps: OrderRoutesDeps): Hono {
  const { config, admission, view, staff } = deps;
  const app = new Hono();
  app.post(
    "/",
    anyone,
    // An overloaded gateway refuses before reading the body; the write takes its slot later.
    admission.guard(),
    limitBody(config.MAX_BODY_BYTES, "order"),
    placeOrder(deps),
  );
  app.get("/", staff, listOrders(view, deps.audit));
  app.get("/:id", byLink, function getOrder(c) {
    const id = c.req.param("id");
    const status = view.get(id);
    if (status === undefined) throw notFound(id);
    return c.json(linked(status));
  });
  app.get("/:id/events", byLink, watchOrder(view));
  return app;
}

/** The handler of `POST /orders`: reads the body, publishes the order once per key, answers 202. */
function placeOrder(deps: OrderRoutesDeps) {
  const { config, admission, view } = deps;
  const newId = deps.newId ?? randomOrderId;
  const idFromKey = deps.idFromKey ?? orderIdsFromKeys(randomOrderId() + randomOrderId());
  // A key is honoured as long as processing remembers the order it produced.
  const idempotency = new IdempotencyStore({
    ...(config.ORDER_DEDUPE_WINDOW_MS === undefined
      ? {}
      : { ttlMs: config.ORDER_DEDUPE_WINDOW_MS }),
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });
  return async function postOrder(c: Parameters<MiddlewareHandler>[0]) {
    const input = await readOrderBody(c.req.raw);
    const key = readIdempotencyKey(c.req.header("Idempotency-Key"));
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
  };
}

/** The handler of `GET /orders`: the latest orders, or (`watch=true`) a stream of their changes. */
function listOrders(view: OrderReadModel, audit: Logger | undefined) {
  return function listOrders(c: Parameters<MiddlewareHandler>[0]) {
    const who = c.get("principal") as Principal | undefined;
    const by = who === undefined ? {} : { who: who.subject, via: who.via };
    const parsed = OrderListQuerySchema.safeParse(c.req.query());
    if (!parsed.success) {
      const errors = fieldErrors(parsed.error.issues);
      throw new HttpProblem(
        422,
        "Invalid query",
        `Cannot list orders: ${errors.map((e) => `${e.field} ${e.message}`).join("; ")}`,
        { errors },
      );
    }
    const { limit, watch } = parsed.data;
    if (watch === "false") {
      const orders = view.recent(limit).map(linked);
      audit?.info("staff read orders", { ...by, ids: orders.map((o) => o.id) });
      return c.json({ orders });
    }
    return streamSSE(c, async (stream) => {
      // Changed ids, oldest change first; an id that changes again moves to the end. Bounded by
      // `limit`: a slow reader gets the latest state of the latest orders, never a backlog.
      const changed = new LatestKeys<string>(limit);
      const ids = pushedItems(stream, (push) => view.watch((status) => push(status.id)), {
        queue: changed,
      });
      try {
        for (const status of view.recent(limit).reverse()) changed.push(status.id);
        for await (const id of ids) {
          const status = view.get(id);
          if (status !== undefined) {
            await stream.writeSSE({ event: "order", data: JSON.stringify(linked(status)) });
            audit?.info("staff read orders", { ...by, ids: [id], watching: true });
          }
        }
      } finally {
        ids.close();
      }
    });
  };
}

/** The handler of `GET /orders/{id}/events`: reached states and mails, then live ones, then `end`. */
function watchOrder(view: OrderReadModel) {
  return function orderEvents(c: Parameters<MiddlewareHandler>[0]) {
    const id = c.req.param("id")!;
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
  };
}

/** The `Idempotency-Key` header, checked; `undefined` when there is none. */
function readIdempotencyKey(key: string | undefined): string | undefined {
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
  return key;
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
