/**
 * Who may call what, built once from the configuration: the gateway's audiences.
 *
 * - *Anyone*: `POST /orders`, `/healthz`, `/readyz`, the web page's files and the sign-in form.
 * - *A customer, by link*: `GET /orders/{id}` and its events. The order id is the capability: 128
 *   random bits, or an HMAC of the `Idempotency-Key` under `GATEWAY_SECRET`.
 * - *Staff* (`staff` role: an OpenID Connect token, the staff token, or a signed-in session):
 *   everything else — the order list and its live stream, purchase analytics, `/metrics`, `/docs`,
 *   `/openapi.json`, `/asyncapi.json`.
 * - *Services* (`service` or `staff`): `POST /purchases`.
 */
import type { Hono, MiddlewareHandler } from "hono";
import type { Config } from "../lib/config.ts";
import type { Logger } from "../lib/log.ts";
import {
  createAuthenticator,
  createOidcVerifier,
  createSessions,
  type OidcVerifier,
  type Sessions,
  signInRoutes,
  staffTokenCheck,
} from "./auth/mod.ts";
import { orderIdsFromKeys } from "./idempotency.ts";

/** One middleware per audience, to put next to each route. */
export interface Guards {
  /** Staff only. */
  staff: MiddlewareHandler;
  /** A shop's backend feeding purchase events, or staff. */
  service: MiddlewareHandler;
}

/** The gateway's access control, wired. */
export interface Access {
  guards: Guards;
  /** `POST /sign-in` and `POST /sign-out`, when a staff token is configured. */
  signIn: Hono | null;
  /** Order ids from Idempotency-Keys, under the shared secret. */
  idFromKey: (key: string) => Promise<string>;
}

/** The settings access control reads. */
export type AccessConfig =
  & Pick<
    Config,
    | "STAFF_TOKEN"
    | "GATEWAY_SECRET"
    | "OIDC_ISSUER"
    | "OIDC_AUDIENCE"
    | "OIDC_JWKS_URL"
    | "OIDC_ROLES_CLAIM"
    | "OIDC_ALGORITHMS"
    | "OIDC_CLOCK_TOLERANCE_S"
    | "SESSION_TTL_MS"
    | "COOKIE_SECURE"
    | "PUBLIC_ORIGINS"
  >
  & Partial<Pick<Config, "TLS_CERT">>;

/**
 * What keeps the gateway from protecting its routes, as one sentence per problem; empty when it can.
 * No default leaves a staff route open: without a staff token or an identity provider, or without
 * the shared secret, the gateway does not start.
 *
 * @param config The settings.
 * @returns The problems.
 */
export function accessProblems(config: AccessConfig): string[] {
  const problems: string[] = [];
  if (config.STAFF_TOKEN === undefined && config.OIDC_ISSUER === undefined) {
    problems.push(
      "Cannot protect the staff routes: set STAFF_TOKEN_FILE (deno task start makes one) or OIDC_ISSUER, OIDC_AUDIENCE and OIDC_JWKS_URL",
    );
  }
  if (config.GATEWAY_SECRET === undefined) {
    problems.push(
      "Cannot derive order ids or sign sessions: set GATEWAY_SECRET_FILE, a file of 32 or more characters the gateway instances share (deno task start makes one)",
    );
  }
  return problems;
}

/**
 * Builds the guards, the sign-in routes and the order-id derivation.
 *
 * @param config The settings ({@linkcode accessProblems} must be empty).
 * @param log Refusals are logged with their reason, never the credential.
 * @returns The access control.
 * @throws {RangeError} When {@linkcode accessProblems} has something to say.
 */
export function createAccess(config: AccessConfig, log: Logger): Access {
  const problems = accessProblems(config);
  if (problems.length > 0) throw new RangeError(problems.join("; "));
  const secret = config.GATEWAY_SECRET!;
  const staff = config.STAFF_TOKEN === undefined ? undefined : staffTokenCheck(config.STAFF_TOKEN);
  let oidc: OidcVerifier | undefined;
  if (config.OIDC_ISSUER !== undefined) {
    oidc = createOidcVerifier({
      issuer: config.OIDC_ISSUER,
      audience: config.OIDC_AUDIENCE!,
      jwksUrl: config.OIDC_JWKS_URL!,
      rolesClaim: config.OIDC_ROLES_CLAIM,
      algorithms: config.OIDC_ALGORITHMS,
      clockToleranceS: config.OIDC_CLOCK_TOLERANCE_S,
    });
  }
  let sessions: Sessions | undefined;
  if (staff !== undefined) {
    sessions = createSessions({
      secret,
      staff,
      ttlMs: config.SESSION_TTL_MS,
      // A gateway serving TLS itself is reached over HTTPS: Secure without being told.
      secure: config.COOKIE_SECURE || config.TLS_CERT !== undefined,
    });
  }
  const origins = config.PUBLIC_ORIGINS;
  const authenticator = createAuthenticator({
    ...(oidc === undefined ? {} : { oidc }),
    ...(staff === undefined ? {} : { staff }),
    ...(sessions === undefined ? {} : { sessions }),
    ...(origins === undefined ? {} : { origins }),
    log,
  });
  return {
    guards: {
      staff: authenticator.requireRole("staff"),
      service: authenticator.requireRole("service", "staff"),
    },
    signIn: sessions === undefined
      ? null
      : signInRoutes({ sessions, log, ...(origins === undefined ? {} : { origins }) }),
    idFromKey: orderIdsFromKeys(secret),
  };
}
