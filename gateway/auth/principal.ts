/**
 * Who a request comes from, and why one was refused: the shapes every credential check of the
 * gateway returns, whatever the credential (an OpenID Connect JWT, the embedded staff token, or the
 * session cookie the staff token signs in to).
 */
import { HttpProblem } from "../problem.ts";

/** The roles a credential can carry; any other role an identity provider sends is ignored. */
export const ROLES = ["staff", "service"] as const;
/**
 * `staff` reads and watches every order and the analytics and may erase; `service` (a shop's
 * backend) may `POST /purchases`.
 */
export type Role = typeof ROLES[number];

/** An authenticated caller. */
export interface Principal {
  /** `sub` of the JWT, or `staff-token` for the embedded token (bearer or session). */
  subject: string;
  /** The known roles the credential carries (possibly none). */
  roles: readonly Role[];
  /** The credential that proved it. */
  via: "oidc" | "staff-token";
}

/**
 * Why a credential was refused. Beyond the token checks: `token-in-query` (a token in the URL
 * leaks into logs and `Referer`), `wrong-token` (not the staff token), `bad-session` (a session
 * cookie that is forged, tampered or from an older staff token), `cross-site` (a cookie-carried
 * state change without same-origin evidence: CSRF), `issuer-unavailable` (the key set cannot be
 * fetched: the caller's token may be fine, so this is 503, not 401).
 */
export const REFUSAL_REASONS = [
  "missing",
  "malformed",
  "bad-signature",
  "expired",
  "not-yet-valid",
  "wrong-issuer",
  "wrong-audience",
  "algorithm-not-allowed",
  "no-role",
  "token-in-query",
  "wrong-token",
  "bad-session",
  "cross-site",
  "issuer-unavailable",
] as const;
/** One of {@linkcode REFUSAL_REASONS}. */
export type RefusalReason = typeof REFUSAL_REASONS[number];

/** A refused credential: a reason code and a sentence that never contains the credential. */
export interface Refusal {
  reason: RefusalReason;
  /** Sentence case, names what was wrong (a claim, a header), never the token. */
  message: string;
}

/** The outcome of checking one credential. */
export type AuthResult =
  | { ok: true; principal: Principal }
  | { ok: false; refusal: Refusal };

/** HTTP status of each refusal: 401 asks for another credential, 403 says this one is not enough. */
const STATUS: Record<RefusalReason, 401 | 403 | 503> = {
  "missing": 401,
  "malformed": 401,
  "bad-signature": 401,
  "expired": 401,
  "not-yet-valid": 401,
  "wrong-issuer": 401,
  "wrong-audience": 401,
  "algorithm-not-allowed": 401,
  "token-in-query": 401,
  "wrong-token": 401,
  "bad-session": 401,
  "no-role": 403,
  "cross-site": 403,
  "issuer-unavailable": 503,
};

/**
 * A refused request as problem+json, with the reason code as the extension member `reason`
 * (RFC 9457 §3.2) so a client can tell an expired token from a wrong one without parsing words.
 */
export class AuthProblem extends HttpProblem {
  /** The reason code, also in the body. */
  readonly reason: RefusalReason;

  /**
   * @param refusal What was refused and why.
   * @param action What the caller tried, for the detail: `GET /orders`.
   */
  constructor(refusal: Refusal, action: string) {
    const status = STATUS[refusal.reason];
    const title = status === 401
      ? "Unauthorized"
      : status === 403
      ? "Forbidden"
      : "Identity provider unavailable";
    super(status, title, `Cannot ${action}: ${refusal.message}`, {
      headers: challengeOf(refusal.reason, status),
    });
    this.name = "AuthProblem";
    this.reason = refusal.reason;
    (this.problem as { reason?: RefusalReason }).reason = refusal.reason;
  }
}

/**
 * The `WWW-Authenticate` challenge (RFC 6750 §3): bare when no credential came, `invalid_token`
 * when one was refused, `insufficient_scope` when its roles are not enough. A CSRF refusal is not
 * about the token, so it gets none.
 */
function challengeOf(reason: RefusalReason, status: number): Record<string, string> {
  if (reason === "missing") return { "WWW-Authenticate": 'Bearer realm="despacho"' };
  if (reason === "no-role") {
    return { "WWW-Authenticate": 'Bearer realm="despacho", error="insufficient_scope"' };
  }
  if (status === 401) {
    return {
      "WWW-Authenticate":
        `Bearer realm="despacho", error="invalid_token", error_description="${reason}"`,
    };
  }
  if (status === 503) return { "Retry-After": "5" };
  return {};
}

/**
 * A refusal.
 *
 * @param reason The code.
 * @param message The sentence, without the credential.
 * @returns A failed {@linkcode AuthResult}.
 */
export function refuse(reason: RefusalReason, message: string): AuthResult & { ok: false } {
  return { ok: false, refusal: { reason, message } };
}
