/**
 * `GET /orders`: the orders this gateway knows, newest first, from its order store. With
 * `watch=true` it is a Server-Sent Events stream instead: the latest orders first, then each order
 * again every time it changes (new, a new state, a mail sent), so a page keeps a live list with
 * one request.
 */
import type { Logger } from "../lib/log.ts";
import type { Principal } from "./auth/mod.ts";
import { Hono, type MiddlewareHandler } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { OrderReadModel, OrderStatus } from "../lib/order_view.ts";
import { fieldErrors, HttpProblem } from "../lib/problem.ts";
import { LatestKeys, pushedItems } from "./sse.ts";

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
  return {
    ...status,
    links: { self: `/orders/${status.id}`, events: `/orders/${status.id}/events` },
  };
}

/**
 * The `/orders` list routes, mounted beside the order API of `app.ts`. Staff only: the list holds
 * every customer's name, address and mails.
 *
 * Every staff read leaves an audit record on the `audit` log: who (the credential's subject and
 * kind), which order ids, when (the line's time); never the data read.
 *
 * @param view The orders the gateway keeps (its order store).
 * @param staff The staff audience's guard.
 * @param audit Where the audit records go. @default nowhere
 * @returns A Hono app answering `GET /`.
 */
export function createOrderListRoutes(
  view: OrderReadModel,
  staff: MiddlewareHandler,
  audit?: Logger,
): Hono {
  const app = new Hono();
  app.get("/", staff, function listOrders(c) {
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
  });
  return app;
}
