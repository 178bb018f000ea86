/**
 * Staff sessions signed in with the staff token, and the CSRF rule for requests that carry them.
 *
 * A session is an opaque cookie `v1.<id>.<expiry>.<mac>`: a random 128-bit id, its expiry in unix
 * seconds, and an HMAC-SHA256 over both under a key derived from the session secret and the staff
 * token's digest. Nothing is stored server-side, so every gateway instance sharing the secret
 * accepts it; a new staff token (or secret) ends every session at once.
 *
 * CSRF: a state-changing request (not GET, HEAD, OPTIONS) authenticated by the cookie must show
 * same-origin evidence: `Sec-Fetch-Site: same-origin`, or else an `Origin` equal to the gateway's
 * own. Chosen over a double-submit token because it needs no state and no token plumbing in the
 * page, every browser that honours `SameSite` sends one of the two headers on such requests, and a
 * cross-site attacker can set neither. `SameSite=Strict` already keeps the cookie off cross-site
 * requests; this is the second, independent layer (it also covers a sibling subdomain, which
 * counts as same-site). A request with neither header is refused: browsers always send one, and a
 * script that is not a browser should use the bearer token, which needs no CSRF defence.
 */
import { Buffer } from "node:buffer";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { type AuthResult, refuse } from "./principal.ts";
import type { StaffTokenCheck } from "./staff_token.ts";

/** What {@linkcode createSessions} needs. */
export interface SessionOptions {
  /** The session signing secret (`GATEWAY_SECRET`), shared by the gateway instances. */
  secret: string;
  /** The staff token check: sign-in compares against it, sessions are bound to its digest. */
  staff: StaffTokenCheck;
  /** How long a session lasts. @default 28800000 (8 hours, a working day) */
  ttlMs?: number;
  /**
   * The gateway is reached over HTTPS (itself or behind a proxy): cookies get `Secure` and the
   * `__Host-` name prefix (no `Domain`, path `/`, HTTPS only: a subdomain cannot overwrite it).
   * @default false
   */
  secure?: boolean;
  /** @default Date.now */
  now?: () => number;
}

/** The result of a sign-in. */
export type SignInResult =
  | { ok: true; setCookie: string }
  | { ok: false; refusal: { reason: "missing" | "wrong-token"; message: string } };

/** Signs sessions in and checks them. */
export interface Sessions {
  /** The cookie's name: `__Host-despacho_session` when secure, `despacho_session` otherwise. */
  readonly cookieName: string;
  /**
   * @param posted The token posted by the sign-in form (never logged).
   * @returns The `Set-Cookie` value of a new session, or why not.
   */
  signIn(posted: string | undefined): SignInResult;
  /**
   * @param cookie The session cookie's value.
   * @returns The staff principal, or `bad-session` / `expired`.
   */
  verify(cookie: string): AuthResult;
  /** @returns The `Set-Cookie` value that removes the session cookie. */
  signOutCookie(): string;
}

const VERSION = "v1";
const SESSION_PATTERN = /^v1\.([A-Za-z0-9_-]{22})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$/;

/**
 * Creates the session signer.
 *
 * @param options Secret, staff token check, lifetime, HTTPS, clock.
 * @returns The sessions.
 * @throws {RangeError} When the secret is shorter than 32 characters or the lifetime is not
 * between one minute and 30 days.
 */
export function createSessions(options: SessionOptions): Sessions {
  if (options.secret.length < 32) {
    throw new RangeError(
      `Cannot sign sessions: the secret must be at least 32 characters: current length is ${options.secret.length}`,
    );
  }
  const ttlMs = options.ttlMs ?? 8 * 3600_000;
  if (!Number.isInteger(ttlMs) || ttlMs < 60_000 || ttlMs > 30 * 86400_000) {
    throw new RangeError(
      `Cannot sign sessions: lifetime must be between 60000 and 2592000000 ms: current value is ${ttlMs}`,
    );
  }
  const secure = options.secure ?? false;
  const now = options.now ?? Date.now;
  const cookieName = secure ? "__Host-despacho_session" : "despacho_session";
  const attributes = `HttpOnly; SameSite=Strict; Path=/${secure ? "; Secure" : ""}`;
  // A key per staff token: replacing the token invalidates every session signed under the old one.
  const key = createHmac("sha256", options.secret)
    .update("despacho session key v1\0")
    .update(options.staff.digest)
    .digest();
  const mac = (id: string, expiry: string) =>
    createHmac("sha256", key).update(`${VERSION}.${id}.${expiry}`).digest();

  return {
    cookieName,
    signIn(posted) {
      if (posted === undefined || posted === "") {
        return { ok: false, refusal: { reason: "missing", message: "no token was posted" } };
      }
      if (!options.staff.verify(posted).ok) {
        return {
          ok: false,
          refusal: { reason: "wrong-token", message: "the posted token is not the staff token" },
        };
      }
      const id = randomBytes(16).toString("base64url");
      const expiry = String(Math.floor((now() + ttlMs) / 1000));
      const value = `${VERSION}.${id}.${expiry}.${mac(id, expiry).toString("base64url")}`;
      return {
        ok: true,
        setCookie: `${cookieName}=${value}; Max-Age=${Math.floor(ttlMs / 1000)}; ${attributes}`,
      };
    },
    verify(cookie) {
      const match = SESSION_PATTERN.exec(cookie);
      if (match === null) return refuse("bad-session", "the session cookie is not one of ours");
      const [, id, expiry, presented] = match as unknown as [string, string, string, string];
      const expected = mac(id, expiry);
      const given = Buffer.from(presented, "base64url");
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return refuse("bad-session", "the session cookie is not one of ours");
      }
      if (Number(expiry) * 1000 <= now()) {
        return refuse("expired", "the session has expired; sign in again");
      }
      return {
        ok: true,
        principal: { subject: "staff-token", roles: ["staff"], via: "staff-token" },
      };
    },
    signOutCookie() {
      return `${cookieName}=; Max-Age=0; ${attributes}`;
    },
  };
}

/** Methods that change nothing, so need no CSRF evidence (RFC 9110 §9.2.1 safe methods). */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Whether a cookie-authenticated request may go on (see the module's CSRF rule).
 *
 * @param request The request.
 * @param origins The gateway's own origins (as a browser sees them: behind a proxy, the public
 * one). @default the origin of `request.url`
 * @returns Whether it is safe, or carries same-origin evidence.
 */
export function sameOriginEvidence(request: Request, origins?: readonly string[]): boolean {
  if (SAFE_METHODS.has(request.method)) return true;
  const site = request.headers.get("sec-fetch-site");
  if (site !== null) return site === "same-origin";
  const origin = request.headers.get("origin");
  if (origin === null || origin === "null") return false;
  return (origins ?? [new URL(request.url).origin]).includes(origin);
}
