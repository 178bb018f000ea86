import assert from "node:assert/strict";
import { loadConfig } from "../lib/config.ts";
import type { OutRecord } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import { httpRequests } from "../lib/metrics.ts";
import { OrderView } from "./order_view.ts";
import { Admission } from "./admission.ts";
import { orderApp } from "../infra/test_gateway.ts";
import { serveApp } from "./server.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const order = JSON.stringify({ name: "Pizza napolitana", price: 12990, email: "a@b.cl" });

/** The gateway's real app and server on a free port, with a publisher that records. */
function gateway(env: Record<string, string>) {
  const config = loadConfig({ PORT: "0", ...env });
  const sent: OutRecord[] = [];
  const publisher = {
    ready: () => true,
    publish: (r: OutRecord) => {
      sent.push(r);
      return Promise.resolve();
    },
  };
  const app = orderApp({
    config,
    admission: new Admission(publisher, { maxPending: 100, ackTimeoutMs: 1000 }),
    view: new OrderView(),
    log: createLogger("test", "error", () => {}),
  });
  const server = serveApp(app, config);
  return { url: `http://127.0.0.1:${server.addr.port}`, port: server.addr.port, server, sent };
}

/** The gateway's count of requests its HTTP server refused before the app, with `status`. */
async function refused(status: number): Promise<number> {
  const { values } = await httpRequests.get();
  return values.find((v) =>
    v.labels.route === "refused" && v.labels.method === "unknown" &&
    v.labels.status === String(status)
  )?.value ?? 0;
}

async function raw(port: number, head: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(head)).catch(() => 0);
  let text = "";
  const buf = new Uint8Array(64 * 1024);
  try {
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      text += decoder.decode(buf.subarray(0, n));
    }
  } catch { /* reset after the answer */ }
  conn.close();
  return text;
}

Deno.test("gateway over a socket: 10,000 request headers get a 431 problem, and an order still gets its 202", async () => {
  const { url, port, server, sent } = gateway({});
  try {
    const before = await refused(431);
    const fields = Array.from({ length: 10_000 }, (_, i) => `X-H${i}: v\r\n`).join("");
    const text = await raw(port, `GET /healthz HTTP/1.1\r\nHost: gw\r\n${fields}\r\n`);
    assert.match(text, /^HTTP\/1\.1 431 /);
    // Never seen by the app, yet counted in /metrics.
    assert.equal(await refused(431), before + 1);
    assert.match(text, /content-type: application\/problem\+json/);
    const problem = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));
    assert.equal(problem.title, "Request header fields too large");

    const res = await fetch(`${url}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: order,
    });
    assert.equal(res.status, 202);
    assert.match(res.headers.get("location") ?? "", /^\/orders\//);
    await res.body?.cancel();
    assert.equal(sent.length, 1);
  } finally {
    await server.shutdown();
  }
});

Deno.test("gateway over a socket: 200 clients dripping their headers are answered 408 and closed within HEADERS_TIMEOUT_MS, while /healthz answers", async () => {
  const { url, port, server } = gateway({ HEADERS_TIMEOUT_MS: "500" });
  try {
    const started = performance.now();
    const slow = Array.from({ length: 200 }, async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(encoder.encode("POST /orders HTTP/1.1\r\nHost: gw\r\n"));
      const drip = setInterval(() => void conn.write(encoder.encode("X")).catch(() => {}), 100);
      let text = "";
      const buf = new Uint8Array(4096);
      try {
        for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
          text += decoder.decode(buf.subarray(0, n));
        }
      } catch { /* reset after the answer */ }
      clearInterval(drip);
      conn.close();
      return { status: text.slice(9, 12), closedAfter: performance.now() - started };
    });
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const results = await Promise.all(slow);
    assert.deepEqual(new Set(results.map((r) => r.status)), new Set(["408"]));
    assert.ok(await refused(408) >= 200, "every 408 counted in /metrics");
    const last = Math.max(...results.map((r) => r.closedAfter));
    assert.ok(last < 3_000, `last slow client closed after ${last.toFixed(0)} ms`);
  } finally {
    await server.shutdown();
  }
});
