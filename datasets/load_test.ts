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
