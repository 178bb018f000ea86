/**
 * The embedded staff token: what lets `deno task start` protect the staff routes with no identity
 * provider. A random 256-bit secret in a file readable only by its owner, created on first start,
 * compared in constant time, announced once with a sign-in link that carries it in the URL
 * fragment (a fragment is never sent to a server, so it stays out of access logs and `Referer`).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import process from "node:process";
import { type AuthResult, refuse } from "./principal.ts";

/** 32 random bytes, base64url: 43 characters. */
const SECRET_BYTES = 32;
/** A secret file shorter than this (≈ 192 bits in base64url) is refused, not trusted. */
const MIN_SECRET_CHARS = 32;

/** A secret read from, or just written to, its file. */
export interface LoadedSecret {
  /** The secret (trimmed). */
  value: string;
  /** Whether this call created the file: then the entrypoint announces the sign-in link. */
  created: boolean;
}

/**
 * Reads a secret file, creating it with 32 random bytes (base64url) and mode 0600 (its directory
 * 0700) when missing. Creation is exclusive, so two processes starting at once end with one secret.
 * Used for the staff token (`STAFF_TOKEN_FILE`) and the session signing key
 * (`GATEWAY_SECRET_FILE`).
 *
 * @param path The file, e.g. `.cache/staff-token`.
 * @returns The secret and whether it was created now.
 * @throws {Error} When the file is readable by group or others, or holds fewer than 32 characters.
 */
export async function loadOrCreateSecret(path: string): Promise<LoadedSecret> {
  let created = false;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Written whole under a private name, then hard-linked into place: the link fails if the file
  // exists, so of two processes starting at once one creates it, and neither reads it half-written.
  const draft = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(draft, randomBytes(SECRET_BYTES).toString("base64url") + "\n", {
    mode: 0o600,
    flag: "wx",
  });
  try {
    // The umask may have narrowed the mode, never widened it; make it exact anyway.
    await chmod(draft, 0o600);
    await link(draft, path);
    created = true;
  } catch (error) {
    if ((error as { code?: string }).code !== "EEXIST") throw error;
  } finally {
    await unlink(draft);
  }
  if (process.platform !== "win32") {
    const mode = (await stat(path)).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new Error(
        `Cannot use secret file ${path}: it must be readable by its owner only (chmod 600): current mode is ${
          mode.toString(8).padStart(4, "0")
        }`,
      );
    }
  }
  const value = (await readFile(path, "utf8")).trim();
  if (value.length < MIN_SECRET_CHARS || /\s/.test(value)) {
    throw new Error(
      `Cannot use secret file ${path}: it must hold one word of at least ${MIN_SECRET_CHARS} characters: current length is ${value.length}`,
    );
  }
  return { value, created };
}

/** Checks a presented staff token against the one in force. */
export interface StaffTokenCheck {
  /**
   * @param presented The bearer token or the posted form field.
   * @returns The staff principal, or `wrong-token`.
   */
  verify(presented: string): AuthResult;
  /** SHA-256 of the token: binds sessions to it, so a new token ends every session. */
  readonly digest: Uint8Array;
}

/**
 * A constant-time check of the staff token: both sides are hashed first, so the comparison runs
 * on equal-length digests and takes the same time whatever the presented length or content.
 *
 * @param token The staff token in force.
 * @returns The check.
 * @throws {RangeError} When the token is shorter than 32 characters.
 */
export function staffTokenCheck(token: string): StaffTokenCheck {
  if (token.length < MIN_SECRET_CHARS) {
    throw new RangeError(
      `Cannot use the staff token: it must be at least ${MIN_SECRET_CHARS} characters: current length is ${token.length}`,
    );
  }
  const digest = sha256(token);
  return {
    digest,
    verify(presented: string): AuthResult {
      if (!timingSafeEqual(sha256(presented), digest)) {
        return refuse("wrong-token", "the credential is not the staff token");
      }
      return {
        ok: true,
        principal: { subject: "staff-token", roles: ["staff"], via: "staff-token" },
      };
    },
  };
}

/**
 * The line the entrypoint prints once at start: a link whose fragment carries the token, which the
 * web page reads and posts to the sign-in form (the fragment never reaches any server).
 *
 * @param baseUrl Where the gateway is reached, e.g. `http://127.0.0.1:8080`.
 * @param token The staff token.
 * @returns `Staff sign-in: http://127.0.0.1:8080/#token=…`.
 * @throws {RangeError} When `baseUrl` is not an http(s) URL or carries a query or fragment.
 */
export function signInLine(baseUrl: string, token: string): string {
  return `Staff sign-in: ${signInLink(baseUrl, token)}`;
}

/**
 * The sign-in link alone (see {@linkcode signInLine}).
 *
 * @param baseUrl Where the gateway is reached.
 * @param token The staff token.
 * @returns The link, the token in the fragment.
 * @throws {RangeError} When `baseUrl` is not an http(s) URL or carries a query or fragment.
 */
export function signInLink(baseUrl: string, token: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new RangeError(`Cannot build the sign-in link: base URL is not a URL: "${baseUrl}"`);
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.search || url.hash) {
    throw new RangeError(
      `Cannot build the sign-in link: base URL must be http(s) with no query or fragment: current value is "${baseUrl}"`,
    );
  }
  url.hash = `token=${encodeURIComponent(token)}`;
  return url.href;
}

/** SHA-256 of a string's UTF-8 bytes. */
export function sha256(text: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(text, "utf8").digest());
}
