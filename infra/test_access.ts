/**
 * Credentials for tests, benches and the fault suite: a staff token and a gateway secret that are
 * known, so a test can present them, and that protect nothing outside a test run.
 */
import type { MiddlewareHandler } from "hono";
import { type Access, createAccess, type Guards } from "../gateway/access.ts";
import { loadConfig } from "../lib/config.ts";
import { createLogger, type Logger } from "../lib/log.ts";

/** The staff token of test gateways. */
export const TEST_STAFF_TOKEN = "test-staff-token-0123456789abcdefghijklmnop";

/** The secret test gateway instances share. */
export const TEST_GATEWAY_SECRET = "test-gateway-secret-0123456789abcdefghijklm";

/** The environment that gives a gateway process the test credentials. */
export const ACCESS_ENV = {
  STAFF_TOKEN: TEST_STAFF_TOKEN,
  GATEWAY_SECRET: TEST_GATEWAY_SECRET,
} as const;

/** Request headers of a staff caller. */
export const STAFF_HEADERS = { authorization: `Bearer ${TEST_STAFF_TOKEN}` } as const;

/**
 * The access control of a test gateway, built as the gateway builds it.
 *
 * @param log Where refusals are logged. @default a silent logger
 */
export function testAccess(log: Logger = createLogger("test", "error", () => {})): Access {
  return createAccess(loadConfig(ACCESS_ENV), log);
}

const pass: MiddlewareHandler = async (_c, next) => {
  await next();
};

/**
 * Guards that let everyone through, for unit tests of a route's own behaviour; who may call each
 * route is tested once, on the whole app, in `gateway/access_test.ts`.
 */
export const OPEN_GUARDS: Guards = { staff: pass, service: pass };
