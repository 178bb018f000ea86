/**
 * One Hono middleware per audience: `requireRole("staff")`, `requireRole("service", "staff")`.
 * Each finds the caller's credential, refuses with problem+json (401 no or bad credential, 403 not
 * enough, both through `app.onError`), and puts the principal on the context as `principal`.
 *
 * Where a credential may be: `Authorization: Bearer <jwt>` (OpenID Connect), `Authorization:
 * Bearer <staff token>`, or the session cookie. A JWT has dots, the staff token has none, so the
 * shape says which check applies. Never in the query string: `?access_token=` is refused, since a
 * URL ends up in access logs, browser history and `Referer`.
 */
import type { MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { Logger } from "../../lib/log.ts";
import type { OidcVerifier } from "./oidc.ts";
import { AuthProblem, type AuthResult, type Principal, refuse, type Role } from "./principal.ts";
import { sameOriginEvidence, type Sessions } from "./session.ts";
import type { StaffTokenCheck } from "./staff_token.ts";

declare module "hono" {
  interface ContextVariableMap {
    /** Who the request comes from, set by a `requireRole` middleware. */
    principal: Principal;
  }
}

/** The credential checks in force; any may be absent (no identity provider configured…). */
export interface AuthenticatorOptions {
  oidc?: OidcVerifier;
  staff?: StaffTokenCheck;
  sessions?: Sessions;
  /** The gateway's public origins, for the CSRF rule. @default each request's own origin */
  origins?: readonly string[];
  /** Refusals are logged at `info` with their reason, method and path; never the credential. */
  log?: Logger;
}

/** Checks requests. */
export interface Authenticator {
  /**
   * Finds and checks the request's credential, whatever its roles.
   *
   * @param request The request.
   * @param cookie The session cookie's value, when one came.
   * @returns The principal, or why not.
   */
  authenticate(request: Request, cookie?: string): Promise<AuthResult>;
  /**
   * A middleware admitting callers with at least one of `roles`.
   *
   * @param roles The roles of the audience.
   * @returns The middleware.
   */
  requireRole(...roles: [Role, ...Role[]]): MiddlewareHandler;
}

/** Query parameters that would carry a token where it leaks. */
const QUERY_TOKEN_NAMES = ["access_token", "id_token", "token"];
const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i;

/**
 * Creates the authenticator.
 *
 * @param options The credential checks in force.
 * @returns The authenticator.
 * @throws {RangeError} When neither an identity provider nor a staff token is configured: every
 * staff route would then be closed to everyone, which is never what was meant.
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const { oidc, staff, sessions, log } = options;
  if (oidc === undefined && staff === undefined) {
    throw new RangeError("Cannot protect routes: neither an identity provider nor a staff token");
  }

  async function authenticate(request: Request, cookie?: string): Promise<AuthResult> {
    const url = new URL(request.url);
    const inQuery = QUERY_TOKEN_NAMES.find((name) => url.searchParams.has(name));
    if (inQuery !== undefined) {
      return refuse(
        "token-in-query",
        `a token in the query string ("${inQuery}") is refused; send it as Authorization: Bearer`,
      );
    }
    const header = request.headers.get("authorization");
    if (header !== null) {
      const token = BEARER.exec(header.trim())?.[1];
      if (token === undefined) {
        return refuse("malformed", "the Authorization header is not one Bearer token");
      }
      if (token.includes(".")) {
        return oidc === undefined
          ? refuse("bad-signature", "no identity provider is configured to verify a JWT")
          : await oidc.verify(token);
      }
      return staff === undefined
        ? refuse("wrong-token", "no staff token is configured")
        : staff.verify(token);
    }
    if (cookie !== undefined && sessions !== undefined) {
      const result = sessions.verify(cookie);
      if (result.ok && !sameOriginEvidence(request, options.origins)) {
        return refuse(
          "cross-site",
          "a request that changes state with a session cookie must come from this site's pages",
        );
      }
      return result;
    }
    return refuse("missing", "this resource needs a credential (Authorization: Bearer or sign-in)");
  }

  return {
    authenticate,
    requireRole(...roles) {
      return async function requireRole(c, next) {
        const cookie = sessions === undefined ? undefined : getCookie(c, sessions.cookieName);
        let result = await authenticate(c.req.raw, cookie);
        if (result.ok && !result.principal.roles.some((role) => roles.includes(role))) {
          result = refuse("no-role", `this resource needs the role ${roles.join(" or ")}`);
        }
        const action = `${c.req.method} ${new URL(c.req.url).pathname}`;
        if (!result.ok) {
          log?.info("request refused", {
            reason: result.refusal.reason,
            method: c.req.method,
            path: new URL(c.req.url).pathname,
          });
          throw new AuthProblem(result.refusal, action);
        }
        c.set("principal", result.principal);
        await next();
      };
    },
  };
}
