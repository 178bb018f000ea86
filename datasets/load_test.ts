import assert from "node:assert/strict";
import { loadOrders, summarizeLoad } from "./load.ts";
import { generateOrders } from "./orders.ts";

Deno.test({
  name: "loadOrders() sends every order over HTTP and reports each status",
  sanitizeResources: false,
  async fn() {
    let n = 0;
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        const body = await req.json();
        return ++n % 10 === 0
          ? Response.json({ detail: "no" }, { status: 503 })
          : Response.json({ id: `id-${body.name.length}` }, { status: 202 });
      },
    );
    try {
      const orders = generateOrders(30, 3);
      const progress: number[] = [];
      const results = await loadOrders({
        target: `http://127.0.0.1:${server.addr.port}`,
        orders,
        rate: "spike",
        concurrency: 4,
        onProgress: (done) => progress.push(done),
      });
      assert.equal(results.length, 30);
      assert.deepEqual(progress, Array.from({ length: 30 }, (_, i) => i + 1));
      const summary = summarizeLoad(results, 1000);
      assert.deepEqual(
        [
          summary.sent,
          summary.accepted,
          summary.serverErrors,
          summary.clientErrors,
          summary.networkErrors,
        ],
        [30, 27, 3, 0, 0],
      );
      assert.ok(results.filter((r) => r.status === 202).every((r) => r.id?.startsWith("id-")));
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test("loadOrders() counts a refused connection as a network error", async () => {
  const results = await loadOrders({
    target: "http://127.0.0.1:9",
    orders: generateOrders(2, 1),
    rate: 1000,
  });
  assert.deepEqual(results.map((r) => r.status), [0, 0]);
});

Deno.test({
  name:
    "loadOrders() takes the gateways in turn, sends each order's Idempotency-Key and keeps Retry-After",
  sanitizeResources: false,
  async fn() {
    const seen: { server: string; key: string | null }[] = [];
    const serve = (name: string) =>
      Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
        seen.push({ server: name, key: req.headers.get("idempotency-key") });
        return name === "a"
          ? Response.json({ id: "x" }, { status: 202 })
          : Response.json({ detail: "busy" }, { status: 503, headers: { "retry-after": "2" } });
      });
    const a = serve("a");
    const b = serve("b");
    try {
      const urls = [a, b].map((s) => `http://127.0.0.1:${s.addr.port}`);
      const results = await loadOrders({
        target: () => urls,
        orders: generateOrders(4, 5),
        rate: 1000,
        concurrency: 1,
        idempotencyKey: (i) => i === 3 ? undefined : `k-${i}`,
      });
      assert.deepEqual(
        results.map((r) => [r.status, r.id, r.retryAfter]),
        [[202, "x", null], [503, undefined, "2"], [202, "x", null], [503, undefined, "2"]],
      );
      assert.deepEqual(seen, [
        { server: "a", key: "k-0" },
        { server: "b", key: "k-1" },
        { server: "a", key: "k-2" },
        { server: "b", key: null },
      ]);
    } finally {
      await Promise.all([a.shutdown(), b.shutdown()]);
    }
  },
});
