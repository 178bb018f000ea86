/**
 * The two audiences that need no credential, as middlewares that let everyone through: they are
 * there to say, next to each route, that its audience was decided (`gateway/access.ts` has the
 * two that check a credential). `gateway/access_test.ts` walks every route and requires exactly
 * one audience on each.
 */
import type { MiddlewareHandler } from "hono";

/** Anyone: the route holds nothing personal (health, the page's files, placing an order). */
export const anyone: MiddlewareHandler = async function anyone(_c, next) {
  await next();
};

/**
 * A customer, by the link to their order: the order id in the path is the capability (128 bits,
 * see `gateway/idempotency.ts`), so the route answers for that one order only.
 */
export const byLink: MiddlewareHandler = async function byLink(_c, next) {
  await next();
};

/** The names of every audience middleware, for the test that walks the routes. */
export const AUDIENCE_MIDDLEWARES: readonly string[] = ["anyone", "byLink", "requireRole"];
