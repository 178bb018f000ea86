/**
 * Who may call what, on the whole gateway app as `server.ts` builds it: every route asked by
 * every kind of caller, the attacks tried for real (tokens signed by jose against a key set
 * served on loopback). The access table of docs/security.md is this test's `EXPECTED`.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { loadConfig } from "../lib/config.ts";
import { createLogger } from "../lib/log.ts";
import { OrderView } from "./order_view.ts";
import { ACCESS_ENV, STAFF_HEADERS, TEST_STAFF_TOKEN } from "../infra/test_access.ts";
import { accessProblems, createAccess } from "./access.ts";
import { Admission } from "./admission.ts";
import { PurchaseAnalyticsView } from "./purchase_analytics.ts";
import { AUDIENCE_MIDDLEWARES } from "./audiences.ts";
import { AUDIENCES } from "./openapi.ts";
import { createGatewayApp } from "./routes.ts";

const ISSUER = "https://idp.example/realms/shop";
const AUDIENCE = "despacho";

/** The callers, each a way to present (or not) a credential. */
const CALLERS = [
  "anonymous",
  "another key",
  "expired",
  "wrong audience",
  "alg none",
  "in the query",
  "service",
  "staff (OIDC)",
  "staff token",
] as const;
type Caller = typeof CALLERS[number];

/** The protected routes, with the status each caller gets. */
const EXPECTED: Record<string, Record<Caller, number>> = {};
const refused = { anonymous: 401, "another key": 401, expired: 401, "wrong audience": 401 };
for (
  const route of [
    "GET /orders?limit=5",
    "GET /orders?watch=true",
    "GET /analytics/purchases",
    "GET /analytics/purchases/events",
    "GET /metrics",
    "GET /docs",
    "GET /openapi.json",
    "GET /asyncapi.json",
  ]
) {
  EXPECTED[route] = {
    ...refused,
    "alg none": 401,
    "in the query": 401,
    service: 403,
    "staff (OIDC)": 200,
    "staff token": 200,
  };
}
// `{id}`: an order placed for the step (each staff caller erases one of its own).
EXPECTED["DELETE /orders/{id}"] = {
  ...refused,
  "alg none": 401,
  "in the query": 401,
  service: 403,
  "staff (OIDC)": 202,
  "staff token": 202,
};
EXPECTED["POST /purchases"] = {
  ...refused,
  "alg none": 401,
  "in the query": 401,
  service: 202,
  "staff (OIDC)": 202,
  "staff token": 202,
};

async function keyPair(kid: string) {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  return { privateKey, jwk, kid };
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

async function setup() {
  const good = await keyPair("k1");
  const other = await keyPair("k1"); // same kid, another key: a forgery
  const jwks = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => Response.json({ keys: [good.jwk] }),
  );
  const config = loadConfig({
    ...ACCESS_ENV,
    OIDC_ISSUER: ISSUER,
    OIDC_AUDIENCE: AUDIENCE,
    OIDC_JWKS_URL: `http://127.0.0.1:${jwks.addr.port}/certs`,
    TOPIC_ORDER_REQUESTS: "r",
    TOPIC_PURCHASES: "p",
  });
  const lines: string[] = [];
  const log = createLogger("test", "info", (line) => lines.push(line));
  const view = new OrderView();
  const app = createGatewayApp({
    config,
    admission: new Admission({ ready: () => true, publish: () => Promise.resolve() }, {
      maxPending: 100,
      ackTimeoutMs: 5_000,
    }),
    view,
    analytics: new PurchaseAnalyticsView(),
    log,
    access: createAccess(config, log),
  });
  const now = Math.floor(Date.now() / 1000);
  const mint = (
    key: typeof good,
    claims: Record<string, unknown>,
    { exp = now + 300, aud = AUDIENCE } = {},
  ) =>
    new SignJWT({ sub: "someone", roles: ["staff"], ...claims })
      .setProtectedHeader({ alg: "ES256", kid: key.kid })
      .setIssuer(ISSUER).setAudience(aud).setIssuedAt(now - 60).setExpirationTime(exp)
      .sign(key.privateKey);
  const tokens: Record<Caller, string | null> = {
    anonymous: null,
    "another key": await mint(other, {}),
    expired: await mint(good, {}, { exp: now - 3600 }),
    "wrong audience": await mint(good, {}, { aud: "another-api" }),
    "alg none": `${b64({ alg: "none", typ: "JWT" })}.${
      b64({ iss: ISSUER, aud: AUDIENCE, sub: "x", roles: ["staff"], exp: now + 300 })
    }.`,
    "in the query": await mint(good, {}),
    service: await mint(good, { roles: ["service"] }),
    "staff (OIDC)": await mint(good, {}),
    "staff token": TEST_STAFF_TOKEN,
  };
  return { app, view, tokens, lines, close: () => jwks.shutdown() };
}

const PURCHASE = {
  id: "6b28427ff85faa10eb5321dc",
  nombre: "John",
  apellido: "Harrison",
  edad: 63,
  email: "John.Harrison@mail.com",
  telefono: "+94 585-941-9707",
  ubicacion: { direccion: "789 Via Milano", ciudad: "Rosewood", pais: "Queenshire" },
  productovisto: "Kit de maquillaje profesional",
  taps: 0,
  folio: null,
};

Deno.test("every protected route refuses the anonymous caller and every bad credential, and answers the right role", async (t) => {
  const { app, tokens, close } = await setup();
  try {
    for (const [route, byCaller] of Object.entries(EXPECTED)) {
      for (const caller of CALLERS) {
        await t.step(`${route} by ${caller} → ${byCaller[caller]}`, async () => {
          const [method, path] = route.split(" ") as [string, string];
          const token = tokens[caller];
          const headers: Record<string, string> = {};
          let url = path;
          if (url.includes("{id}")) {
            const placed = await app.request("/orders", {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ name: "Pizza", price: 12990, email: "ana@example.cl" }),
            });
            url = url.replace("{id}", (await placed.json()).id);
          }
          if (caller === "in the query") {
            url += `${path.includes("?") ? "&" : "?"}access_token=${token}`;
          } else if (token !== null) headers.authorization = `Bearer ${token}`;
          const init: RequestInit = { method, headers };
          if (method === "POST") {
            headers["content-type"] = "application/json";
            init.body = JSON.stringify(PURCHASE);
          }
          const res = await app.request(url, init);
          assert.equal(res.status, byCaller[caller]);
          if (res.status >= 400) {
            assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
            const problem = await res.json();
            assert.equal(problem.status, res.status);
            assert.equal(typeof problem.reason, "string");
            if (res.status === 401) {
              assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/);
            }
            // No credential is ever echoed back.
            if (token !== null) assert.ok(!JSON.stringify(problem).includes(token));
          } else await res.body?.cancel();
        });
      }
    }
  } finally {
    await close();
  }
});

Deno.test("a customer's link reads that one order; another order's id, or an id computed from an Idempotency-Key, reads nothing", async () => {
  const { app, close } = await setup();
  try {
    const place = (key?: string) =>
      app.request("/orders", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(key === undefined ? {} : { "Idempotency-Key": key }),
        },
        body: JSON.stringify({ name: "Pizza", price: 12990, email: "ana@example.cl" }),
      });
    const mine = await (await place("pedido-1")).json();
    const theirs = await (await place()).json();
    // Open to anyone who holds the link, and only that order.
    const got = await app.request(`/orders/${mine.id}`);
    assert.equal(got.status, 200);
    assert.equal((await got.json()).id, mine.id);
    const events = await app.request(`/orders/${mine.id}/events`);
    assert.equal(events.status, 200);
    await events.body?.cancel();
    assert.notEqual(mine.id, theirs.id);
    assert.match(mine.id, /^[A-Za-z0-9_-]{22}$/, "128 bits");
    // Knowing the key gives no way to the order: the old unkeyed derivation finds nothing.
    const digest = createHash("sha256").update("order:pedido-1").digest();
    const hex = digest.subarray(0, 16).toString("hex");
    for (
      const guess of [
        digest.subarray(0, 16).toString("base64url"),
        `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${hex.slice(16, 20)}-${
          hex.slice(20)
        }`,
        "pedido-1",
      ]
    ) {
      const res = await app.request(`/orders/${guess}`);
      assert.equal(res.status, 404, guess);
      await res.body?.cancel();
    }
    // The same key again (a retry) gets the same order.
    assert.equal((await (await place("pedido-1")).json()).id, mine.id);
    // Open routes stay open and carry no data.
    for (const path of ["/healthz", "/readyz", "/", "/assets/app.js", "/docs/assets/docs.js"]) {
      const res = await app.request(path);
      assert.equal(res.status, 200, path);
      await res.body?.cancel();
    }
    const signOut = await app.request("/sign-out", {
      method: "POST",
      headers: { "sec-fetch-site": "same-origin" },
    });
    assert.equal(signOut.status, 303, "anyone may sign out (it only clears their own cookie)");
    await signOut.body?.cancel();
  } finally {
    await close();
  }
});

Deno.test("the staff token signs a browser in: the cookie reads staff routes, changes state only from the gateway's own pages", async () => {
  const { app, close } = await setup();
  try {
    const signIn = (token: string, site = "same-origin") =>
      app.request("/sign-in", {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "sec-fetch-site": site,
        },
        body: new URLSearchParams({ token }).toString(),
      });
    const huge = await signIn("x".repeat(4096));
    assert.equal(huge.status, 413, "the anonymous form's body is bounded before it is read");
    await huge.body?.cancel();
    const wrong = await signIn("x".repeat(TEST_STAFF_TOKEN.length));
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    const crossSite = await signIn(TEST_STAFF_TOKEN, "cross-site");
    assert.equal(crossSite.status, 403);
    await crossSite.body?.cancel();
    const ok = await signIn(TEST_STAFF_TOKEN);
    assert.equal(ok.status, 303);
    const setCookie = ok.headers.get("set-cookie") ?? "";
    assert.match(setCookie, /HttpOnly/i);
    assert.match(setCookie, /SameSite=Strict/i);
    const cookie = setCookie.split(";")[0]!;
    const list = await app.request("/orders?limit=5", { headers: { cookie } });
    assert.equal(list.status, 200);
    await list.body?.cancel();
    // A state change with the cookie from another site (CSRF) is refused.
    const forged = await app.request("/purchases", {
      method: "POST",
      headers: { cookie, "content-type": "application/json", "sec-fetch-site": "cross-site" },
      body: JSON.stringify(PURCHASE),
    });
    assert.equal(forged.status, 403);
    await forged.body?.cancel();
    const fromPage = await app.request("/purchases", {
      method: "POST",
      headers: { cookie, "content-type": "application/json", "sec-fetch-site": "same-origin" },
      body: JSON.stringify(PURCHASE),
    });
    assert.equal(fromPage.status, 202);
    await fromPage.body?.cancel();
    // A tampered cookie reads nothing.
    const tampered = await app.request("/orders?limit=5", {
      headers: { cookie: `${cookie.slice(0, -2)}xx` },
    });
    assert.equal(tampered.status, 401);
    await tampered.body?.cancel();
    // Staff headers still work alongside.
    const bearer = await app.request("/metrics", { headers: STAFF_HEADERS });
    assert.equal(bearer.status, 200);
    await bearer.body?.cancel();
  } finally {
    await close();
  }
});

Deno.test("accessProblems() stops a gateway with no staff credential or no shared secret, saying which", () => {
  assert.deepEqual(accessProblems(loadConfig(ACCESS_ENV)), []);
  const none = accessProblems(loadConfig({}));
  assert.equal(none.length, 2);
  assert.match(none[0]!, /STAFF_TOKEN_FILE .* or OIDC_ISSUER, OIDC_AUDIENCE and OIDC_JWKS_URL/);
  assert.match(none[1]!, /GATEWAY_SECRET_FILE/);
  assert.deepEqual(
    accessProblems(loadConfig({ GATEWAY_SECRET: ACCESS_ENV.GATEWAY_SECRET })).length,
    1,
  );
});

Deno.test("a staff read of orders leaves an audit record: who, which ids, when; never the data", async () => {
  const { app, tokens, lines, close } = await setup();
  try {
    const placed = await (await app.request("/orders", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "Pizza", price: 12990, email: "ana@example.cl" }),
    })).json();
    lines.length = 0;
    const read = await app.request("/orders?limit=5", {
      headers: { authorization: `Bearer ${tokens["staff (OIDC)"]}` },
    });
    assert.equal(read.status, 200);
    await read.body?.cancel();
    const audit = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "staff read orders");
    assert.equal(audit.length, 1);
    assert.deepEqual(
      { ns: audit[0].ns, who: audit[0].who, via: audit[0].via, ids: audit[0].ids },
      { ns: "test:audit", who: "someone", via: "oidc", ids: [placed.id] },
    );
    assert.ok(typeof audit[0].t === "string", "when");
    assert.ok(!lines.join("\n").includes("ana@example.cl"), "no personal data in any line");
    assert.ok(!lines.join("\n").includes(tokens["staff (OIDC)"]!), "no credential in any line");
  } finally {
    await close();
  }
});

Deno.test("createAccess() makes session cookies Secure when the gateway serves TLS or is told it is behind HTTPS", async (t) => {
  const base = loadConfig(ACCESS_ENV);
  const log = createLogger("test", "error", () => {});
  const cases: [string, Partial<typeof base>, boolean][] = [
    ["plain HTTP", {}, false],
    ["TLS_CERT given", { TLS_CERT: "-----BEGIN CERTIFICATE-----" }, true],
    ["COOKIE_SECURE=true", { COOKIE_SECURE: true }, true],
  ];
  for (const [name, change, secure] of cases) {
    await t.step(name, async () => {
      const { signIn } = createAccess({ ...base, ...change }, log);
      const res = await signIn!.request("/sign-in", {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "sec-fetch-site": "same-origin",
        },
        body: new URLSearchParams({ token: TEST_STAFF_TOKEN }).toString(),
      });
      assert.equal(res.status, 303);
      const cookie = res.headers.get("set-cookie") ?? "";
      assert.equal(/;\s*Secure/i.test(cookie), secure, cookie.replace(/=[^;]+/, "=…"));
      assert.equal(cookie.startsWith("__Host-"), secure);
    });
  }
});

Deno.test("every route of the gateway says its audience next to it, exactly one, and the credentialed ones are the documented and tested ones", async () => {
  const { app, close } = await setup();
  try {
    const byRoute = Map.groupBy(
      app.routes.filter((r) => r.method !== "ALL"),
      (r) => `${r.method} ${r.path}`,
    );
    const audiences = [...byRoute].map(([route, handlers]) =>
      [
        route,
        handlers.map((h) => h.handler.name).filter((n) => AUDIENCE_MIDDLEWARES.includes(n)),
      ] as const
    );
    const notOne = audiences.filter(([, names]) => names.length !== 1).map(([route]) => route);
    assert.deepEqual(notOne, [], "routes without exactly one audience");
    // The routes that ask for a credential are those the OpenAPI document marks, and those this
    // file tries every caller on.
    const credentialed = audiences.filter(([, names]) => names[0] === "requireRole")
      .map(([route]) => route.replace(/:(\w+)/g, "{$1}")).sort();
    assert.deepEqual(credentialed, Object.keys(AUDIENCES).sort());
    assert.deepEqual(
      credentialed,
      [...new Set(Object.keys(EXPECTED).map((r) => r.replace(/\?.*$/, "")))].sort(),
    );
  } finally {
    await close();
  }
});
