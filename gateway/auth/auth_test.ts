/**
 * Attacks on the gateway's access control, tried for real: a real JSON Web Key Set served over
 * HTTP on loopback, tokens signed by jose, a real Hono app with the middleware, `app.request()`.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { chmod, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import { exportJWK, exportSPKI, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import { createLogger } from "../../lib/log.ts";
import { toProblem } from "../routes.ts";
import {
  createAuthenticator,
  createOidcVerifier,
  createSessions,
  loadOrCreateSecret,
  type OidcOptions,
  type Role,
  rolesAt,
  signInLine,
  signInLink,
  signInRoutes,
  staffTokenCheck,
} from "./mod.ts";

const ISSUER = "https://idp.example/realms/shop";
const AUDIENCE = "despacho";

/** Every secret the tests hand out: none may appear in a response or a log line. */
const secrets: string[] = [];
const bodies: string[] = [];
const logLines: string[] = [];

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

/** A JWKS endpoint on 127.0.0.1:0 whose key list the test changes, counting fetches. */
function serveJwks(keys: JWK[]) {
  let fetches = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    fetches++;
    return Response.json({ keys });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/protocol/openid-connect/certs`,
    keys,
    fetches: () => fetches,
    close: () => server.shutdown(),
  };
}

async function keyPair(alg: string, kid: string) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { publicKey, privateKey, jwk, kid, alg };
}

interface Mint {
  key: SigningKey | Uint8Array;
  kid: string;
  alg: string;
  /** Seconds since epoch. */
  at: number;
  claims?: JWTPayload;
  iss?: string;
  aud?: string;
  /** Lifetime in seconds; `null`: no exp. */
  lifetime?: number | null;
  notBefore?: number;
}

async function mint(m: Mint): Promise<string> {
  let jwt = new SignJWT({ sub: "user-7", ...m.claims })
    .setProtectedHeader({ alg: m.alg, kid: m.kid, typ: "JWT" })
    .setIssuer(m.iss ?? ISSUER)
    .setAudience(m.aud ?? AUDIENCE)
    .setIssuedAt(m.at);
  if (m.lifetime !== null) jwt = jwt.setExpirationTime(m.at + (m.lifetime ?? 300));
  if (m.notBefore !== undefined) jwt = jwt.setNotBefore(m.notBefore);
  const token = await jwt.sign(m.key);
  secrets.push(token);
  return token;
}

/** The app every attack is tried on: the three audiences of issue 17 behind the middleware. */
function buildApp(options: Parameters<typeof createAuthenticator>[0]) {
  const auth = createAuthenticator(options);
  const app = new Hono();
  app.get("/orders", auth.requireRole("staff"), (c) => c.json(c.get("principal")));
  app.delete("/orders/:id", auth.requireRole("staff"), (c) => c.body(null, 204));
  app.post("/purchases", auth.requireRole("service", "staff"), (c) => c.json(c.get("principal")));
  app.onError((error) => {
    const problem = toProblem(error);
    return new Response(JSON.stringify(problem.problem), {
      status: problem.status,
      headers: { "content-type": "application/problem+json", ...problem.headers },
    });
  });
  return app;
}

async function call(
  app: Hono,
  path: string,
  init: RequestInit & { bearer?: string; cookie?: string } = {},
) {
  const headers = new Headers(init.headers);
  if (init.bearer !== undefined) headers.set("authorization", `Bearer ${init.bearer}`);
  if (init.cookie !== undefined) headers.set("cookie", init.cookie);
  const response = await app.request(`http://127.0.0.1:8080${path}`, { ...init, headers });
  const text = await response.text();
  // Set-Cookie of a sign-in is where a session must go; every other header is searched.
  const headerLines = [...response.headers].filter(([k]) => k !== "set-cookie");
  bodies.push(text, headerLines.map(([k, v]) => `${k}: ${v}`).join("\n"));
  return { status: response.status, headers: response.headers, text };
}

async function refused(
  app: Hono,
  path: string,
  init: RequestInit & { bearer?: string; cookie?: string },
  status: number,
  reason: string,
) {
  const r = await call(app, path, init);
  assert.equal(r.status, status, r.text);
  assert.equal(r.headers.get("content-type"), "application/problem+json");
  const body = JSON.parse(r.text);
  assert.equal(body.reason, reason, r.text);
  assert.equal(body.status, status);
  return r;
}

Deno.test("requireRole() refuses every attack on OIDC bearer tokens", async (t) => {
  const signer = await keyPair("RS256", "k1");
  const attacker = await keyPair("RS256", "k1");
  const jwks = serveJwks([signer.jwk]);
  let clock = Date.UTC(2026, 11, 5, 12, 0, 0);
  const at = () => Math.floor(clock / 1000);
  const options: OidcOptions = {
    issuer: ISSUER,
    audience: AUDIENCE,
    jwksUrl: jwks.url,
    jwksCooldownMs: 0,
    now: () => clock,
  };
  const log = createLogger("auth", "debug", (line) => logLines.push(line));
  const app = buildApp({ oidc: createOidcVerifier(options), log });
  const good = (claims: JWTPayload = { roles: ["staff"] }) =>
    mint({ key: signer.privateKey, kid: "k1", alg: "RS256", at: at(), claims });

  try {
    await t.step("no credential: 401 with a bare Bearer challenge", async () => {
      const r = await refused(app, "/orders", {}, 401, "missing");
      assert.equal(r.headers.get("www-authenticate"), 'Bearer realm="despacho"');
    });

    await t.step("a token signed by another key with the same kid: 401", async () => {
      const token = await mint({
        key: attacker.privateKey,
        kid: "k1",
        alg: "RS256",
        at: at(),
        claims: { roles: ["staff"] },
      });
      const r = await refused(app, "/orders", { bearer: token }, 401, "bad-signature");
      assert.match(r.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
    });

    await t.step("expired beyond the clock tolerance: 401; within it: 200", async () => {
      const token = await mint({
        key: signer.privateKey,
        kid: "k1",
        alg: "RS256",
        at: at() - 400,
        lifetime: 300,
        claims: { roles: ["staff"] },
      });
      await refused(app, "/orders", { bearer: token }, 401, "expired");
      const justExpired = await mint({
        key: signer.privateKey,
        kid: "k1",
        alg: "RS256",
        at: at() - 310,
        lifetime: 300,
        claims: { roles: ["staff"] },
      });
      assert.equal((await call(app, "/orders", { bearer: justExpired })).status, 200);
    });

    await t.step("not valid yet: 401", async () => {
      const token = await mint({
        key: signer.privateKey,
        kid: "k1",
        alg: "RS256",
        at: at(),
        notBefore: at() + 120,
        claims: { roles: ["staff"] },
      });
      await refused(app, "/orders", { bearer: token }, 401, "not-yet-valid");
    });

    await t.step("wrong issuer or audience: 401", async () => {
      const iss = await mint({
        key: signer.privateKey,
        kid: "k1",
        alg: "RS256",
        at: at(),
        iss: "https://evil.example",
        claims: { roles: ["staff"] },
      });
      await refused(app, "/orders", { bearer: iss }, 401, "wrong-issuer");
      const aud = await mint({
        key: signer.privateKey,
        kid: "k1",
        alg: "RS256",
        at: at(),
        aud: "another-api",
        claims: { roles: ["staff"] },
      });
      await refused(app, "/orders", { bearer: aud }, 401, "wrong-audience");
    });

    await t.step("no exp: 401", async () => {
      const token = await mint({
        key: signer.privateKey,
        kid: "k1",
        alg: "RS256",
        at: at(),
        lifetime: null,
        claims: { roles: ["staff"] },
      });
      const r = await refused(app, "/orders", { bearer: token }, 401, "malformed");
      assert.match(JSON.parse(r.text).detail, /"exp" claim is missing/);
    });

    await t.step("alg none, crafted by hand: 401", async () => {
      const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
      const token = `${b64({ alg: "none", typ: "JWT" })}.${
        b64({ sub: "user-7", iss: ISSUER, aud: AUDIENCE, exp: at() + 300, roles: ["staff"] })
      }.`;
      secrets.push(token);
      await refused(app, "/orders", { bearer: token }, 401, "algorithm-not-allowed");
    });

    await t.step("HS256 signed with the key set's public key as the secret: 401", async (t) => {
      const pem = await exportSPKI(signer.publicKey);
      for (
        const [name, secret] of [
          ["PEM", pem],
          ["JWK JSON", JSON.stringify(signer.jwk)],
          ["modulus", signer.jwk.n ?? ""],
        ] as const
      ) {
        await t.step(name, async () => {
          const token = await mint({
            key: new TextEncoder().encode(secret),
            kid: "k1",
            alg: "HS256",
            at: at(),
            claims: { roles: ["staff"] },
          });
          await refused(app, "/orders", { bearer: token }, 401, "algorithm-not-allowed");
        });
      }
    });

    await t.step("a valid token in the query string: 401", async () => {
      const token = await good();
      for (const name of ["access_token", "id_token", "token"]) {
        await refused(app, `/orders?${name}=${token}`, {}, 401, "token-in-query");
      }
    });

    await t.step("not a Bearer header: 401", async () => {
      await refused(
        app,
        "/orders",
        { headers: { authorization: "Basic dXNlcjpwYXNz" } },
        401,
        "malformed",
      );
      await refused(app, "/orders", { bearer: "a.b.c" }, 401, "malformed");
    });

    await t.step("the right token without a known role: 403", async () => {
      const token = await good({ roles: ["admin", "viewer"] });
      const r = await refused(app, "/orders", { bearer: token }, 403, "no-role");
      assert.match(r.headers.get("www-authenticate") ?? "", /insufficient_scope/);
    });

    await t.step("service on a staff route: 403; on POST /purchases: 200", async () => {
      const token = await good({ roles: ["service"] });
      await refused(app, "/orders", { bearer: token }, 403, "no-role");
      await refused(app, "/orders/o-1", { method: "DELETE", bearer: token }, 403, "no-role");
      const r = await call(app, "/purchases", { method: "POST", bearer: token });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(JSON.parse(r.text), { subject: "user-7", roles: ["service"], via: "oidc" });
    });

    await t.step("staff: 200 with the principal on the context", async () => {
      const r = await call(app, "/orders", { bearer: await good() });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(JSON.parse(r.text), { subject: "user-7", roles: ["staff"], via: "oidc" });
    });

    await t.step("a key added to the key set after start is picked up", async () => {
      const rotated = await keyPair("ES256", "k2");
      const token = await mint({
        key: rotated.privateKey,
        kid: "k2",
        alg: "ES256",
        at: at(),
        claims: { roles: ["staff"] },
      });
      const before = jwks.fetches();
      await refused(app, "/orders", { bearer: token }, 401, "bad-signature");
      jwks.keys.push(rotated.jwk);
      assert.equal((await call(app, "/orders", { bearer: token })).status, 200);
      assert.equal(jwks.fetches(), before + 2, "one fetch per unknown kid");
    });

    await t.step(
      "within the cool-down an unknown kid fetches nothing (no amplification)",
      async () => {
        const cooled = buildApp({
          oidc: createOidcVerifier({ ...options, jwksCooldownMs: 30_000 }),
        });
        assert.equal((await call(cooled, "/orders", { bearer: await good() })).status, 200);
        const before = jwks.fetches();
        for (let i = 0; i < 5; i++) {
          const token = await mint({
            key: attacker.privateKey,
            kid: `made-up-${i}`,
            alg: "RS256",
            at: at(),
            claims: { roles: ["staff"] },
          });
          await refused(cooled, "/orders", { bearer: token }, 401, "bad-signature");
        }
        assert.equal(jwks.fetches(), before);
      },
    );

    await t.step("Keycloak's realm_access.roles claim path", async () => {
      const keycloak = buildApp({
        oidc: createOidcVerifier({ ...options, rolesClaim: "realm_access.roles" }),
      });
      const token = await good({ realm_access: { roles: ["staff", "offline_access"] } });
      assert.equal((await call(keycloak, "/orders", { bearer: token })).status, 200);
      await refused(keycloak, "/orders", { bearer: await good() }, 403, "no-role");
    });

    await t.step("the clock moves: a token good now expires later", async () => {
      const token = await good();
      assert.equal((await call(app, "/orders", { bearer: token })).status, 200);
      clock += 301_000 + 30_000;
      await refused(app, "/orders", { bearer: token }, 401, "expired");
    });

    await t.step("an unreachable key set: 503, not 401", async () => {
      const closed = serveJwks([]);
      await closed.close();
      const down = buildApp({ oidc: createOidcVerifier({ ...options, jwksUrl: closed.url }) });
      const r = await refused(down, "/orders", { bearer: await good() }, 503, "issuer-unavailable");
      assert.equal(r.headers.get("retry-after"), "5");
    });
  } finally {
    await jwks.close();
  }
});

Deno.test("requireRole() with the staff token: bearer, session cookie, CSRF", async (t) => {
  const token = crypto.getRandomValues(new Uint8Array(32)).reduce(
    (s, b) => s + b.toString(16).padStart(2, "0"),
    "",
  );
  secrets.push(token);
  let clock = Date.UTC(2026, 11, 5, 12, 0, 0);
  const staff = staffTokenCheck(token);
  const sessions = createSessions({
    secret: "s".repeat(40),
    staff,
    ttlMs: 3600_000,
    now: () => clock,
  });
  const log = createLogger("auth", "debug", (line) => logLines.push(line));
  const app = buildApp({ staff, sessions, log });
  const signedIn = sessions.signIn(token);
  assert.ok(signedIn.ok);
  const cookie = signedIn.setCookie.split(";")[0] ?? "";
  secrets.push(cookie.split("=")[1] ?? "");

  await t.step("the staff token as bearer: 200", async () => {
    const r = await call(app, "/orders", { bearer: token });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(JSON.parse(r.text), {
      subject: "staff-token",
      roles: ["staff"],
      via: "staff-token",
    });
  });

  await t.step("a wrong token of the same length: 401", async () => {
    const wrong = token.slice(0, -1) + (token.endsWith("0") ? "1" : "0");
    await refused(app, "/orders", { bearer: wrong }, 401, "wrong-token");
    await refused(app, "/orders", { bearer: token.slice(0, 10) }, 401, "wrong-token");
  });

  await t.step("a JWT when no identity provider is configured: 401", async () => {
    await refused(
      app,
      "/orders",
      { bearer: "eyJhbGciOiJSUzI1NiJ9.e30.c2ln" },
      401,
      "bad-signature",
    );
  });

  await t.step("sign-in sets an HttpOnly, SameSite=Strict cookie; Secure behind HTTPS", () => {
    assert.match(
      signedIn.setCookie,
      /^despacho_session=v1\.[\w-]{22}\.\d+\.[\w-]{43}; Max-Age=3600; HttpOnly; SameSite=Strict; Path=\/$/,
    );
    const secure = createSessions({ secret: "s".repeat(40), staff, secure: true }).signIn(token);
    assert.ok(secure.ok);
    assert.match(
      secure.setCookie,
      /^__Host-despacho_session=.*; HttpOnly; SameSite=Strict; Path=\/; Secure$/,
    );
    assert.deepEqual(sessions.signIn(token.slice(1) + "x"), {
      ok: false,
      refusal: { reason: "wrong-token", message: "the posted token is not the staff token" },
    });
    assert.equal(sessions.signIn("").ok, false);
  });

  await t.step("the session cookie: 200", async () => {
    const r = await call(app, "/orders", { cookie });
    assert.equal(r.status, 200, r.text);
  });

  await t.step("a tampered cookie: 401", async (t) => {
    const value = cookie.split("=")[1] ?? "";
    const [v, id, expiry, mac] = value.split(".") as [string, string, string, string];
    const flip = (s: string) => s.slice(0, -2) + (s.at(-2) === "A" ? "B" : "A") + s.at(-1);
    for (
      const [name, forged] of [
        ["mac", `${v}.${id}.${expiry}.${flip(mac)}`],
        ["id", `${v}.${flip(id)}.${expiry}.${mac}`],
        ["later expiry", `${v}.${id}.${Number(expiry) + 86400}.${mac}`],
        ["no mac", `${v}.${id}.${expiry}.`],
        ["garbage", "x"],
      ] as const
    ) {
      await t.step(name, async () => {
        await refused(app, "/orders", { cookie: `despacho_session=${forged}` }, 401, "bad-session");
      });
    }
  });

  await t.step("a session signed under an older staff token: 401", async () => {
    const newer = createSessions({
      secret: "s".repeat(40),
      staff: staffTokenCheck("n".repeat(43)),
    });
    const other = buildApp({ staff: staffTokenCheck("n".repeat(43)), sessions: newer });
    await refused(other, "/orders", { cookie }, 401, "bad-session");
  });

  await t.step("a cookie POST without same-origin evidence: 403 (CSRF)", async (t) => {
    for (
      const [name, headers, status] of [
        ["no Origin, no Sec-Fetch-Site", {}, 403],
        ["Origin of another site", { origin: "https://evil.example" }, 403],
        ["Origin null", { origin: "null" }, 403],
        ["Sec-Fetch-Site cross-site", { "sec-fetch-site": "cross-site" }, 403],
        ["Sec-Fetch-Site same-site (a sibling subdomain)", { "sec-fetch-site": "same-site" }, 403],
        ["Sec-Fetch-Site cross-site, even with our own Origin", {
          "sec-fetch-site": "cross-site",
          origin: "http://127.0.0.1:8080",
        }, 403],
        ["Sec-Fetch-Site same-origin", { "sec-fetch-site": "same-origin" }, 200],
        ["own Origin", { origin: "http://127.0.0.1:8080" }, 200],
      ] as const
    ) {
      await t.step(name, async () => {
        if (status === 403) {
          await refused(app, "/purchases", { method: "POST", cookie, headers }, 403, "cross-site");
          await refused(
            app,
            "/orders/o-1",
            { method: "DELETE", cookie, headers },
            403,
            "cross-site",
          );
        } else {
          assert.equal(
            (await call(app, "/purchases", { method: "POST", cookie, headers })).status,
            200,
          );
        }
      });
    }
    // A bearer token is not sent by a browser on its own: no CSRF evidence asked.
    assert.equal((await call(app, "/purchases", { method: "POST", bearer: token })).status, 200);
  });

  await t.step("the configured public origin is the one accepted behind a proxy", async () => {
    const proxied = buildApp({ staff, sessions, origins: ["https://shop.example"] });
    const ok = await call(proxied, "/purchases", {
      method: "POST",
      cookie,
      headers: { origin: "https://shop.example" },
    });
    assert.equal(ok.status, 200);
    await refused(
      proxied,
      "/purchases",
      { method: "POST", cookie, headers: { origin: "http://127.0.0.1:8080" } },
      403,
      "cross-site",
    );
  });

  await t.step("an expired session: 401", async () => {
    clock += 3600_000;
    await refused(app, "/orders", { cookie }, 401, "expired");
  });

  await t.step("sign-out clears the cookie with the same attributes", () => {
    assert.equal(
      sessions.signOutCookie(),
      "despacho_session=; Max-Age=0; HttpOnly; SameSite=Strict; Path=/",
    );
  });
});

Deno.test("createOidcVerifier() refuses unsafe options", async (t) => {
  const base = { issuer: ISSUER, audience: AUDIENCE, jwksUrl: "https://idp.example/certs" };
  for (
    const [name, options, message] of [
      [
        "HS256",
        { algorithms: ["RS256", "HS256"] },
        /algorithm must be one of .*: current value is "HS256"/,
      ],
      ["none", { algorithms: ["none"] }, /current value is "none"/],
      ["no algorithm", { algorithms: [] }, /no algorithm is allowed/],
      ["http off loopback", { jwksUrl: "http://idp.example/certs" }, /must be https/],
      ["empty issuer", { issuer: " " }, /the issuer is empty/],
      ["empty audience", { audience: [] }, /the audience is empty/],
      [
        "clock tolerance",
        { clockToleranceS: 3600 },
        /between 0 and 300 seconds: current value is 3600/,
      ],
    ] as const
  ) {
    await t.step(name, () => {
      assert.throws(() => createOidcVerifier({ ...base, ...options }), (e: Error) => {
        assert.ok(e instanceof RangeError);
        assert.match(e.message, message);
        return true;
      });
    });
  }
  assert.throws(() => createAuthenticator({}), RangeError);
});

Deno.test("rolesAt() reads names, dotted paths and URI claims, keeping known roles only", () => {
  const cases: [Record<string, unknown>, string, Role[]][] = [
    [{ roles: ["staff", "admin"] }, "roles", ["staff"]],
    [{ roles: "service staff" }, "roles", ["staff", "service"]],
    [{ realm_access: { roles: ["service"] } }, "realm_access.roles", ["service"]],
    [{ "https://shop.example/roles": ["staff"] }, "https://shop.example/roles", ["staff"]],
    [{ roles: { staff: true } }, "roles", []],
    [{ roles: [1, null, "staff"] }, "roles", ["staff"]],
    [{}, "realm_access.roles", []],
  ];
  for (const [payload, path, roles] of cases) assert.deepEqual(rolesAt(payload, path), roles);
});

Deno.test("loadOrCreateSecret() creates a 0600 secret once and refuses a loose or short one", async () => {
  const dir = await mkdtemp(join(tmpdir(), "despacho-auth-"));
  try {
    const path = join(dir, "cache", "staff-token");
    const first = await loadOrCreateSecret(path);
    assert.equal(first.created, true);
    assert.match(first.value, /^[A-Za-z0-9_-]{43}$/);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, "cache"))).mode & 0o777, 0o700);
    assert.deepEqual(await loadOrCreateSecret(path), { value: first.value, created: false });

    const both = await Promise.all([1, 2, 3].map(() => loadOrCreateSecret(join(dir, "race"))));
    assert.equal(both.filter((s) => s.created).length, 1);
    assert.equal(new Set(both.map((s) => s.value)).size, 1);

    await chmod(path, 0o644);
    await assert.rejects(loadOrCreateSecret(path), {
      message:
        `Cannot use secret file ${path}: it must be readable by its owner only (chmod 600): current mode is 0644`,
    });
    const short = join(dir, "short");
    await writeFile(short, "abc\n", { mode: 0o600 });
    await assert.rejects(loadOrCreateSecret(short), {
      message:
        `Cannot use secret file ${short}: it must hold one word of at least 32 characters: current length is 3`,
    });
  } finally {
    await rm(dir, { recursive: true });
  }
});

Deno.test("signInLine() puts the token in the fragment, never the query", () => {
  const token = "A".repeat(43);
  assert.equal(
    signInLine("http://127.0.0.1:8080", token),
    `Staff sign-in: http://127.0.0.1:8080/#token=${token}`,
  );
  const link = new URL(signInLink("https://shop.example/despacho/", token));
  assert.equal(link.search, "");
  assert.equal(link.hash, `#token=${token}`);
  assert.equal(link.pathname, "/despacho/");
  assert.throws(() => signInLink("http://127.0.0.1:8080/?x=1", token), RangeError);
  assert.throws(() => signInLink("ftp://127.0.0.1", token), RangeError);
  assert.throws(() => staffTokenCheck("short"), RangeError);
});

Deno.test("signInRoutes() opens a session for the staff token only, from this site only", async (t) => {
  const token = "t".repeat(20) + crypto.randomUUID();
  secrets.push(token);
  const staff = staffTokenCheck(token);
  const sessions = createSessions({ secret: "s".repeat(40), staff });
  const app = buildApp({
    staff,
    sessions,
    log: createLogger("auth", "debug", (l) => logLines.push(l)),
  });
  app.route(
    "/",
    signInRoutes({ sessions, log: createLogger("auth", "debug", (l) => logLines.push(l)) }),
  );
  const form = (
    value: string,
    headers: Record<string, string> = { "sec-fetch-site": "same-origin" },
  ) => ({
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams({ token: value }).toString(),
  });

  await t.step(
    "the right token: 303 to / with a session cookie that opens staff routes",
    async () => {
      const r = await call(app, "/sign-in", form(token));
      assert.equal(r.status, 303, r.text);
      assert.equal(r.headers.get("location"), "/");
      assert.equal(r.headers.get("cache-control"), "no-store");
      const cookie = (r.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
      secrets.push(cookie.split("=")[1] ?? "");
      assert.equal((await call(app, "/orders", { cookie })).status, 200);
    },
  );

  await t.step("a wrong or missing token: 401, no cookie", async () => {
    const r = await refused(app, "/sign-in", form(token.replace("t", "u")), 401, "wrong-token");
    assert.equal(r.headers.get("set-cookie"), null);
    await refused(app, "/sign-in", form(""), 401, "missing");
    await refused(
      app,
      "/sign-in",
      {
        ...form(token),
        headers: { "content-type": "text/plain", "sec-fetch-site": "same-origin" },
      },
      401,
      "missing",
    );
  });

  await t.step("posted from another site (login CSRF): 403", async () => {
    await refused(
      app,
      "/sign-in",
      form(token, { origin: "https://evil.example" }),
      403,
      "cross-site",
    );
    await refused(app, "/sign-in", form(token, {}), 403, "cross-site");
    await refused(
      app,
      "/sign-out",
      form("", { "sec-fetch-site": "cross-site" }),
      403,
      "cross-site",
    );
  });

  await t.step("sign-out clears the cookie", async () => {
    const r = await call(app, "/sign-out", form(""));
    assert.equal(r.status, 303);
    assert.match(r.headers.get("set-cookie") ?? "", /^despacho_session=; Max-Age=0; HttpOnly/);
  });
});

Deno.test("no token ever appears in a problem body, a header or a log line", () => {
  // Runs last: after every test above (Deno runs a file's tests in order).
  assert.ok(secrets.length > 20 && bodies.length > 40 && logLines.length > 20);
  for (const secret of secrets.filter((s) => s.length >= 16)) {
    for (const text of [...bodies, ...logLines]) {
      assert.ok(!text.includes(secret), `a secret leaked into: ${text.slice(0, 80)}`);
    }
    // The signature alone would be enough to replay nothing, but the payload part of a JWT could
    // carry personal data: check the longest part too.
    const longest = secret.split(".").sort((a, b) => b.length - a.length)[0] ?? "";
    if (longest.length >= 16) {
      for (const text of [...bodies, ...logLines]) assert.ok(!text.includes(longest));
    }
  }
  const line = JSON.parse(logLines.find((l) => l.includes("expired")) ?? "{}");
  assert.deepEqual(Object.keys(line).sort(), [
    "level",
    "method",
    "msg",
    "ns",
    "path",
    "reason",
    "t",
  ]);
});
