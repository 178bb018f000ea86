/**
 * `DELETE /orders/{id}` (staff): erases an order's personal data, as a customer may ask (GDPR
 * Art. 17, Chile's Ley 21.719).
 *
 * The gateway writes one erasure request, keyed by the order id, to the compacted topic
 * `order_erasures` (kept for good: an id and a time), and forgets the order in its own store at
 * once. Every reader honours the request, also on replay: the processing role cancels the order
 * where it stood and tombstones its steps in the status topic (with an `{id}/erased` marker that
 * makes every gateway's store forget it), the notification role sends no more mail and tombstones
 * its mail outcomes. Records of the order in the other topics are ignored by every reader until
 * their `retention.ms` deletes them (docs/security.md says per topic).
 *
 * Answers `202` with the request accepted (the roles carry it out moments later), `404` for an
 * order this gateway does not know (or already erased); every erasure leaves an audit record.
 */
import { Hono, type MiddlewareHandler } from "hono";
import type { Logger } from "../lib/log.ts";
import { erasureRequestRecord } from "../lib/order.ts";
import type { OrderReadModel } from "./order_view.ts";
import { HttpProblem } from "./problem.ts";
import type { Admission } from "./admission.ts";
import type { Principal } from "./auth/mod.ts";

/** What {@linkcode createOrderErasureRoutes} needs. */
export interface OrderErasureDeps {
  view: OrderReadModel;
  /** Writes the request to Kafka, bounded like every write. */
  admission: Pick<Admission, "publish">;
  /** The erasures topic (`TOPIC_ORDER_ERASURES`). */
  topic: string;
  /** The staff audience's guard. */
  staff: MiddlewareHandler;
  /** Where the audit records go. @default nowhere */
  audit?: Logger;
  /** @default () => new Date() */
  now?: () => Date;
}

/** The body of a `202` to `DELETE /orders/{id}`. */
export interface ErasureAccepted {
  id: string;
  erasure: "requested";
}

/**
 * The `DELETE /:id` route, mounted at `/orders`.
 *
 * @param deps The store, the writer, the topic, the staff guard and the audit log.
 * @returns A Hono app.
 */
export function createOrderErasureRoutes(deps: OrderErasureDeps): Hono {
  const { view, admission, topic, staff, audit } = deps;
  const now = deps.now ?? (() => new Date());
  const app = new Hono();
  app.delete("/:id", staff, async function eraseOrder(c) {
    const id = c.req.param("id");
    if (view.get(id) === undefined) {
      throw new HttpProblem(404, "Order not found", `Cannot erase order: no order has id "${id}"`);
    }
    // Written before the store forgets: should Kafka refuse (503), nothing was erased anywhere
    // and the caller tries again; once written, every role carries it out, also after a crash.
    await admission.publish(erasureRequestRecord(topic, id, now()));
    view.erase(id);
    const who = c.get("principal") as Principal | undefined;
    audit?.info("staff erased order", {
      ...(who === undefined ? {} : { who: who.subject, via: who.via }),
      id,
    });
    const body: ErasureAccepted = { id, erasure: "requested" };
    return c.json(body, 202);
  });
  return app;
}
