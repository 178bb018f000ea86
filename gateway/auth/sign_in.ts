/**
 * The sign-in form's endpoints: `POST /sign-in` (form field `token`) opens a staff session,
 * `POST /sign-out` closes it. The web page reads the token from the sign-in link's fragment and
 * posts it here, then drops the fragment from the address bar.
 */
import { anyone } from "../audiences.ts";
import { Hono } from "hono";
import type { Logger } from "../../lib/log.ts";
import { limitBody } from "../body_limit.ts";
import { AuthProblem, refuse } from "./principal.ts";
import { sameOriginEvidence, type Sessions } from "./session.ts";

/** What {@linkcode signInRoutes} needs. */
export interface SignInOptions {
  sessions: Sessions;
  /** The gateway's public origins, for the CSRF rule. @default each request's own origin */
  origins?: readonly string[];
  /** Refusals are logged at `info` with their reason; never the posted token. */
  log?: Logger;
  /** Where a signed-in (or out) browser goes next. @default "/" */
  next?: string;
}

/** A posted form larger than this is not a sign-in: 43 token characters plus the field name. */
const MAX_FORM_BYTES = 1024;

/**
 * The sign-in and sign-out routes, to mount at the root.
 *
 * Both require same-origin evidence, as any cookie-changing request does: a cross-site form could
 * otherwise sign a browser in or out behind its user's back (login CSRF).
 *
 * @param options Sessions, origins, logger.
 * @returns A Hono app with `POST /sign-in` (303 with the session cookie, or 401) and `POST /sign-out`
 * (303 clearing it).
 */
export function signInRoutes(options: SignInOptions): Hono {
  const { sessions, log } = options;
  const next = options.next ?? "/";
  const app = new Hono();

  // Anyone may post here: the body is bounded before it is read, as on every route that reads one.
  app.post("/sign-in", anyone, limitBody(MAX_FORM_BYTES, "sign-in"), async function signIn(c) {
    const action = "POST /sign-in";
    if (!sameOriginEvidence(c.req.raw, options.origins)) {
      log?.info("sign-in refused", { reason: "cross-site" });
      throw new AuthProblem(
        refuse("cross-site", "the sign-in form must be posted from this site's pages").refusal,
        action,
      );
    }
    const body = await c.req.text();
    const type = c.req.header("content-type") ?? "";
    const token = type.startsWith("application/x-www-form-urlencoded")
      ? new URLSearchParams(body).get("token") ?? undefined
      : undefined;
    const result = sessions.signIn(token);
    if (!result.ok) {
      log?.info("sign-in refused", { reason: result.refusal.reason });
      throw new AuthProblem(result.refusal, action);
    }
    log?.info("signed in", { via: "staff-token" });
    return c.body(null, 303, {
      "Location": next,
      "Set-Cookie": result.setCookie,
      "Cache-Control": "no-store",
    });
  });

  app.post("/sign-out", anyone, function signOut(c) {
    if (!sameOriginEvidence(c.req.raw, options.origins)) {
      throw new AuthProblem(
        refuse("cross-site", "the sign-out form must be posted from this site's pages").refusal,
        "POST /sign-out",
      );
    }
    return c.body(null, 303, {
      "Location": next,
      "Set-Cookie": sessions.signOutCookie(),
      "Cache-Control": "no-store",
    });
  });
  return app;
}
