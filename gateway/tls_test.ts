/**
 * The gateway over HTTPS, for real: a CA and a certificate for 127.0.0.1 made with `openssl` at
 * test time, a client that trusts that CA, both HTTP servers.
 */
import { makeTestCertificates } from "../infra/smtp.ts";
import assert from "node:assert/strict";
import { Hono } from "hono";
import { loadConfig } from "../lib/config.ts";
import { createLogger } from "../lib/log.ts";
import { OrderView } from "./order_view.ts";
import { Admission } from "./admission.ts";
import { orderApp } from "../infra/test_gateway.ts";
import { clientAddress, clientLimits } from "./rate_limit.ts";
import { HSTS, serveApp } from "./server.ts";
import { createAccess } from "./access.ts";
import { PurchaseAnalyticsView } from "./purchase_analytics.ts";
import { createGatewayApp } from "./routes.ts";
import { ACCESS_ENV, TEST_STAFF_TOKEN } from "../infra/test_access.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const order = JSON.stringify({ name: "Pizza napolitana", price: 12990, email: "a@b.cl" });

/** A CA, and a server certificate for 127.0.0.1 signed by it, as PEM; null without openssl. */
async function certificates(): Promise<{ ca: string; cert: string; key: string } | null> {
  try {
    const made = await makeTestCertificates();
    const ca = await Deno.readTextFile(made.caFile);
    await made.remove();
    return { ca, cert: made.cert, key: made.key };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

const pem = await certificates();
if (pem === null) {
  console.log("tls_test: skipped: openssl is not installed, no certificate to test with");
}

/** The order API (one order a client, at most) and a route answering the client's address. */
function app(): Hono {
  const config = loadConfig({ ORDER_BURST: "1", ORDER_RATE_PER_S: "0.001" });
  const publisher = { ready: () => true, publish: () => Promise.resolve() };
  const api = orderApp({
    config,
    admission: new Admission(publisher, { maxPending: 10, ackTimeoutMs: 1000 }),
    view: new OrderView(),
    log: createLogger("test", "error", () => {}),
    limits: clientLimits(config),
  });
  return api.get("/who", (c) => c.text(clientAddress(c, () => false)));
}

for (const server of ["strict", "deno"] as const) {
  Deno.test({
    name: `serveApp() with TLS_CERT and TLS_KEY serves HTTPS and HSTS (${server} server)`,
    ignore: pem === null,
    async fn(t) {
      const { ca, cert, key } = pem!;
      const config = loadConfig({ PORT: "0", HTTP_SERVER: server, TLS_CERT: cert, TLS_KEY: key });
      const running = serveApp(app(), config);
      const port = running.addr.port;
      const client = Deno.createHttpClient({ caCerts: [ca] });
      try {
        await t.step("an HTTPS request is answered, with Strict-Transport-Security", async () => {
          const res = await fetch(`https://127.0.0.1:${port}/healthz`, { client });
          assert.equal(res.status, 200);
          assert.equal(res.headers.get("strict-transport-security"), HSTS);
          assert.deepEqual(await res.json(), { status: "ok" });
        });
        await t.step("the app sees the client's address, and limits by it", async () => {
          const who = await fetch(`https://127.0.0.1:${port}/who`, { client });
          assert.equal(await who.text(), "127.0.0.1");
          const post = () =>
            fetch(`https://127.0.0.1:${port}/orders`, {
              client,
              method: "POST",
              headers: { "content-type": "application/json" },
              body: order,
            });
          const first = await post();
          assert.equal(first.status, 202);
          await first.body?.cancel();
          const second = await post();
          assert.equal(second.status, 429);
          assert.equal(second.headers.get("strict-transport-security"), HSTS);
          assert.ok(Number(second.headers.get("retry-after")) >= 1);
          await second.body?.cancel();
        });
        await t.step("a client that does not trust the CA is refused", async () => {
          await assert.rejects(fetch(`https://127.0.0.1:${port}/healthz`));
        });
        await t.step("plain HTTP on the TLS port gets no HTTP answer", async () => {
          await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          await conn.write(encoder.encode("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
          const bytes: number[] = [];
          const buf = new Uint8Array(4096);
          try {
            for (let n; (n = await conn.read(buf)) !== null;) bytes.push(...buf.subarray(0, n));
          } catch {
            // Reset by the server: no answer either.
          } finally {
            conn.close();
          }
          const text = decoder.decode(new Uint8Array(bytes));
          assert.ok(!text.includes("HTTP/1.1"), `answered in clear: ${JSON.stringify(text)}`);
          assert.ok(!text.includes("ok"));
        });
        if (server === "strict") {
          await t.step("a request the parser refuses carries HSTS too", async () => {
            const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [ca] });
            await conn.write(encoder.encode("GET / HTTP/1.1\r\n\r\n")); // no Host
            let text = "";
            const buf = new Uint8Array(4096);
            try {
              for (let n; (n = await conn.read(buf)) !== null;) {
                text += decoder.decode(buf.subarray(0, n));
              }
            } catch {
              // Closed after the answer.
            } finally {
              conn.close();
            }
            assert.match(text, /^HTTP\/1\.1 400 /);
            assert.match(text, new RegExp(`\r\nstrict-transport-security: ${HSTS}\r\n`));
          });
        }
      } finally {
        client.close();
        await running.shutdown();
      }
    },
  });
}

Deno.test("serveApp() without TLS sends no HSTS and gives the app the peer address", async () => {
  for (const server of ["strict", "deno"] as const) {
    const running = serveApp(app(), loadConfig({ PORT: "0", HTTP_SERVER: server }));
    try {
      const res = await fetch(`http://127.0.0.1:${running.addr.port}/who`);
      assert.equal(await res.text(), "127.0.0.1", server);
      assert.equal(res.headers.get("strict-transport-security"), null, server);
    } finally {
      await running.shutdown();
    }
  }
});

Deno.test({
  name: "a staff session's cookie is Secure when the gateway serves TLS, without COOKIE_SECURE",
  ignore: pem === null,
  async fn() {
    const { ca, cert, key } = pem!;
    const log = createLogger("test", "error", () => {});
    const cookieOf = async (
      env: Record<string, string>,
      scheme: string,
      client?: Deno.HttpClient,
    ) => {
      const config = loadConfig({ PORT: "0", ...ACCESS_ENV, ...env });
      const publisher = { ready: () => true, publish: () => Promise.resolve() };
      const running = serveApp(
        createGatewayApp({
          access: createAccess(config, log),
          config,
          admission: new Admission(publisher, { maxPending: 10, ackTimeoutMs: 1000 }),
          view: new OrderView(),
          analytics: new PurchaseAnalyticsView(),
          log,
        }),
        config,
      );
      try {
        const res = await fetch(`${scheme}://127.0.0.1:${running.addr.port}/sign-in`, {
          ...(client === undefined ? {} : { client }),
          method: "POST",
          redirect: "manual",
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            "sec-fetch-site": "same-origin",
          },
          body: new URLSearchParams({ token: TEST_STAFF_TOKEN }).toString(),
        });
        await res.body?.cancel();
        assert.equal(res.status, 303);
        return res.headers.get("set-cookie") ?? "";
      } finally {
        await running.shutdown();
      }
    };
    const client = Deno.createHttpClient({ caCerts: [ca] });
    try {
      const overTls = await cookieOf({ TLS_CERT: cert, TLS_KEY: key }, "https", client);
      assert.match(overTls, /^__Host-/);
      assert.match(overTls, /; Secure/i);
      const plain = await cookieOf({}, "http");
      assert.doesNotMatch(plain, /; Secure/i);
    } finally {
      client.close();
    }
  },
});
