/**
 * Bearer JWTs from the organisation's OpenID Connect provider (Keycloak, Entra ID, Auth0,
 * Google…), verified with npm `jose` against the issuer's JSON Web Key Set.
 *
 * Why `jose` and not Hono's `jwk` middleware: the pinned Hono fetches the key set on every request,
 * allows no clock skew and accepts a token without `exp`. `createRemoteJWKSet` caches the set,
 * fetches it again only for an unknown `kid` (at most once per cool-down, so a flood of made-up
 * `kid`s cannot make us hammer the provider) and `jwtVerify` checks what we ask it to.
 */
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from "jose";
import { type AuthResult, type Principal, refuse, type Role, ROLES } from "./principal.ts";

/** Asymmetric algorithms a key set can verify; HS* (a shared secret) and `none` never. */
export const ASYMMETRIC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;

/** What {@linkcode createOidcVerifier} needs. */
export interface OidcOptions {
  /** The `iss` every token must carry, exactly. */
  issuer: string;
  /** The `aud` (one of) every token must carry: this API's client id or resource URI. */
  audience: string | readonly string[];
  /** The issuer's `jwks_uri`: https, or http on a loopback address only. */
  jwksUrl: string;
  /**
   * Where the roles are in the payload: a claim name (`roles`, `https://shop.example/roles`) or a
   * dotted path (`realm_access.roles` for Keycloak). An array of strings or a space-separated
   * string.
   * @default "roles"
   */
  rolesClaim?: string;
  /**
   * Accepted `alg` values, a subset of {@linkcode ASYMMETRIC_ALGORITHMS}.
   * @default ["RS256", "ES256", "PS256", "EdDSA"]
   */
  algorithms?: readonly string[];
  /**
   * Clock skew allowed on `exp` and `nbf`, in seconds (0 to 300).
   * @default 30
   */
  clockToleranceS?: number;
  /**
   * Shortest time between two fetches of the key set for an unknown `kid`, in milliseconds.
   * @default 30000
   */
  jwksCooldownMs?: number;
  /** The clock tokens are checked against. @default Date.now */
  now?: () => number;
}

/** Checks bearer JWTs. */
export interface OidcVerifier {
  /**
   * Verifies a compact JWT.
   *
   * @param token The bearer token (never logged, never in the refusal).
   * @returns The principal, or why the token was refused.
   */
  verify(token: string): Promise<AuthResult>;
}

const DEFAULT_ALGORITHMS = ["RS256", "ES256", "PS256", "EdDSA"];
/** Longer than any JWT a provider issues; bounds the work an anonymous caller can ask for. */
const MAX_TOKEN_CHARS = 8192;

/**
 * Creates a verifier for one issuer. The key set is fetched on the first token, not here.
 *
 * @param options Issuer, audience, key set URL, roles claim, algorithms, clock skew.
 * @returns The verifier.
 * @throws {RangeError} When an option is out of range: an HS* or `none` algorithm, a plain-http
 * key set URL off loopback, an empty issuer or audience, a clock tolerance outside 0–300 s.
 */
export function createOidcVerifier(options: OidcOptions): OidcVerifier {
  const algorithms = [...(options.algorithms ?? DEFAULT_ALGORITHMS)];
  const issuer = options.issuer;
  const audience = typeof options.audience === "string" ? options.audience : [...options.audience];
  const clockTolerance = options.clockToleranceS ?? 30;
  const rolesClaim = options.rolesClaim ?? "roles";
  const now = options.now ?? Date.now;
  validate(options, algorithms, clockTolerance, rolesClaim);
  const keys = createRemoteJWKSet(new URL(options.jwksUrl), {
    cooldownDuration: options.jwksCooldownMs ?? 30_000,
  });

  return {
    async verify(token: string): Promise<AuthResult> {
      if (token.length > MAX_TOKEN_CHARS) {
        return refuse("malformed", `the bearer token is longer than ${MAX_TOKEN_CHARS} characters`);
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          issuer,
          audience,
          algorithms,
          clockTolerance,
          requiredClaims: ["exp", "sub"],
          currentDate: new Date(now()),
        }));
      } catch (error) {
        return refusalOf(error);
      }
      const principal: Principal = {
        subject: String(payload.sub),
        roles: rolesAt(payload, rolesClaim),
        via: "oidc",
      };
      return { ok: true, principal };
    },
  };
}

function validate(
  options: OidcOptions,
  algorithms: string[],
  clockTolerance: number,
  rolesClaim: string,
): void {
  if (options.issuer.trim() === "") {
    throw new RangeError("Cannot verify tokens: the issuer is empty");
  }
  const audiences = typeof options.audience === "string" ? [options.audience] : options.audience;
  if (audiences.length === 0 || audiences.some((a) => a.trim() === "")) {
    throw new RangeError("Cannot verify tokens: the audience is empty");
  }
  if (algorithms.length === 0) {
    throw new RangeError("Cannot verify tokens: no algorithm is allowed");
  }
  for (const alg of algorithms) {
    if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new RangeError(
        `Cannot verify tokens: algorithm must be one of ${
          ASYMMETRIC_ALGORITHMS.join(", ")
        }: current value is "${alg}"`,
      );
    }
  }
  if (!Number.isFinite(clockTolerance) || clockTolerance < 0 || clockTolerance > 300) {
    throw new RangeError(
      `Cannot verify tokens: clock tolerance must be between 0 and 300 seconds: current value is ${clockTolerance}`,
    );
  }
  if (rolesClaim.trim() === "") {
    throw new RangeError("Cannot verify tokens: the roles claim is empty");
  }
  let url: URL;
  try {
    url = new URL(options.jwksUrl);
  } catch {
    throw new RangeError(
      `Cannot verify tokens: the key set URL is not a URL: current value is "${options.jwksUrl}"`,
    );
  }
  const loopback = ["127.0.0.1", "[::1]", "localhost"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    // Keys fetched in clear text can be swapped on the way: then anyone can mint tokens.
    throw new RangeError(
      `Cannot verify tokens: the key set URL must be https (http only on loopback): current value is "${url.href}"`,
    );
  }
}

/**
 * The known roles at a claim path: the whole path as one claim name first (URI-named claims
 * contain dots), then as a dotted path into nested objects.
 *
 * @param payload The verified payload.
 * @param path `roles`, `realm_access.roles`, `https://shop.example/roles`.
 * @returns The roles among {@linkcode ROLES}, each once; others are ignored.
 */
export function rolesAt(payload: Readonly<Record<string, unknown>>, path: string): Role[] {
  let value: unknown = payload[path];
  if (value === undefined) {
    value = path.split(".").reduce<unknown>(
      (node, key) =>
        node !== null && typeof node === "object" && !Array.isArray(node)
          ? (node as Record<string, unknown>)[key]
          : undefined,
      payload,
    );
  }
  const names = typeof value === "string"
    ? value.split(" ")
    : Array.isArray(value)
    ? value.filter((v): v is string => typeof v === "string")
    : [];
  return ROLES.filter((role) => names.includes(role));
}

/** Maps a `jose` error to a reason; what is not the token's fault is the issuer's. */
function refusalOf(error: unknown): AuthResult & { ok: false } {
  if (error instanceof errors.JWTExpired) {
    return refuse("expired", "the bearer token has expired");
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "nbf") return refuse("not-yet-valid", "the bearer token is not valid yet");
    if (error.claim === "iss") {
      return refuse("wrong-issuer", "the bearer token is from another issuer");
    }
    if (error.claim === "aud") {
      return refuse("wrong-audience", "the bearer token is for another audience");
    }
    return refuse("malformed", `the bearer token's "${error.claim}" claim is ${error.reason}`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return refuse("algorithm-not-allowed", "the bearer token's algorithm is not allowed");
  }
  if (
    error instanceof errors.JWSSignatureVerificationFailed ||
    error instanceof errors.JWKSNoMatchingKey ||
    error instanceof errors.JWKSMultipleMatchingKeys
  ) {
    return refuse("bad-signature", "the bearer token is not signed by a key of the issuer");
  }
  if (
    error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid ||
    error instanceof errors.JOSENotSupported || error instanceof errors.JWKInvalid
  ) {
    return refuse("malformed", "the bearer token is not a well-formed signed JWT");
  }
  return refuse("issuer-unavailable", "the identity provider's key set cannot be fetched");
}
