import assert from "node:assert/strict";
import { Hono } from "hono";
import { loadConfig } from "../lib/config.ts";
import { createLogger } from "../lib/log.ts";
import { httpRequests, ordersRefused } from "../lib/metrics.ts";
import { OrderView } from "./order_view.ts";
import { Admission } from "./admission.ts";
import { PurchaseAnalyticsView } from "./purchase_analytics.ts";
import { orderApp } from "../infra/test_gateway.ts";
import {
  clientAddress,
  clientLimits,
  StreamSlots,
  TokenBuckets,
  trustedProxies,
} from "./rate_limit.ts";
import { createGatewayApp } from "./routes.ts";
import { STAFF_HEADERS, testAccess } from "../infra/test_access.ts";

const quiet = createLogger("test", "error", () => {});
const order = JSON.stringify({ name: "Pizza napolitana", price: 12990, email: "a@b.cl" });
const publisher = { ready: () => true, publish: () => Promise.resolve() };

/** The env `Deno.serve` and `http1.ts` give the app: the connection's peer. */
const from = (hostname: string) => ({ remoteAddr: { hostname, port: 50000, transport: "tcp" } });

Deno.test("TokenBuckets() allows the burst, then refuses with the wait for one token", () => {
  let now = 0;
  const buckets = new TokenBuckets({ ratePerS: 5, burst: 20, now: () => now });
  for (let i = 0; i < 20; i++) assert.deepEqual(buckets.take("a"), { allowed: true }, `take ${i}`);
  assert.deepEqual(buckets.take("a"), { allowed: false, retryAfterMs: 200 });
  // Another client has its own bucket.
  assert.deepEqual(buckets.take("b"), { allowed: true });
  now = 100;
  assert.deepEqual(buckets.take("a"), { allowed: false, retryAfterMs: 100 });
  now = 200;
  assert.deepEqual(buckets.take("a"), { allowed: true });
  assert.deepEqual(buckets.take("a"), { allowed: false, retryAfterMs: 200 });
});

Deno.test("TokenBuckets() refills at the rate, up to the burst and no more", () => {
  let now = 0;
  const buckets = new TokenBuckets({ ratePerS: 2, burst: 3, now: () => now });
  for (let i = 0; i < 3; i++) buckets.take("a");
  assert.equal(buckets.take("a").allowed, false);
  now = 60_000; // a minute idle refills 3, not 120
  for (let i = 0; i < 3; i++) assert.equal(buckets.take("a").allowed, true, `take ${i}`);
  assert.deepEqual(buckets.take("a"), { allowed: false, retryAfterMs: 500 });
});

Deno.test("TokenBuckets() forgets buckets that filled up again", () => {
  let now = 0;
  const buckets = new TokenBuckets({ ratePerS: 1, burst: 2, now: () => now });
  for (let i = 0; i < 50; i++) buckets.take(`client-${i}`);
  assert.equal(buckets.size, 50);
  now = 10_000; // every bucket is full again: each take forgets up to two of them
  for (let i = 0; i < 30; i++) buckets.take("busy");
  assert.equal(buckets.size, 1);
  // A forgotten client starts with a full bucket, as it would have had.
  for (let i = 0; i < 2; i++) assert.equal(buckets.take("client-0").allowed, true);
  assert.equal(buckets.take("client-0").allowed, false);
});

Deno.test("TokenBuckets() tracks at most maxClients, forgetting the least recently seen", () => {
  const now = 0;
  const buckets = new TokenBuckets({ ratePerS: 1, burst: 1, maxClients: 3, now: () => now });
  for (const key of ["a", "b", "c"]) buckets.take(key);
  assert.equal(buckets.take("a").allowed, false); // a is now the most recently seen
  buckets.take("d"); // b goes
  assert.equal(buckets.size, 3);
  assert.equal(buckets.take("a").allowed, false);
  assert.equal(buckets.take("c").allowed, false);
  assert.equal(buckets.take("b").allowed, true, "b was forgotten");
  for (let i = 0; i < 10_000; i++) buckets.take(`spray-${i}`);
  assert.equal(buckets.size, 3);
});

Deno.test("TokenBuckets() with rate 0 allows everything and tracks nothing", () => {
  const buckets = new TokenBuckets({ ratePerS: 0, burst: 1 });
  for (let i = 0; i < 1000; i++) assert.equal(buckets.take("a").allowed, true);
  assert.equal(buckets.size, 0);
});

Deno.test("TokenBuckets() refuses options it cannot honour", async (t) => {
  for (
    const [options, message] of [
      [{ ratePerS: -1, burst: 1 }, "rate must be 0 or more: current value is -1"],
      [{ ratePerS: NaN, burst: 1 }, "rate must be 0 or more: current value is NaN"],
      [{ ratePerS: 1, burst: 0 }, "burst must be 1 or more: current value is 0"],
      [
        { ratePerS: 1, burst: 1, maxClients: 0 },
        "maxClients must be 1 or more: current value is 0",
      ],
    ] as const
  ) {
    await t.step(message, () => {
      assert.throws(() => new TokenBuckets(options), {
        name: "RangeError",
        message: `Cannot create token buckets: ${message}`,
      });
    });
  }
});

Deno.test("StreamSlots() caps open streams per client and gives a slot back once", () => {
  const slots = new StreamSlots(2);
  const one = slots.open("a")!;
  const two = slots.open("a")!;
  assert.equal(slots.open("a"), null);
  assert.notEqual(slots.open("b"), null);
  one();
  one(); // a second release of the same stream frees nothing more
  assert.equal(slots.count("a"), 1);
  assert.notEqual(slots.open("a"), null);
  assert.equal(slots.open("a"), null);
  two();
  assert.equal(new StreamSlots(0).open("a") !== null, true);
});

Deno.test("clientAddress() trusts X-Forwarded-For only from a trusted proxy", async (t) => {
  const trusted = trustedProxies(["10.0.0.0/8", "::1"]);
  const app = new Hono().get("/", (c) => c.text(clientAddress(c, trusted)));
  for (
    const [peer, forwarded, expected] of [
      ["203.0.113.5", undefined, "203.0.113.5"],
      ["203.0.113.5", "198.51.100.1", "203.0.113.5"], // a client cannot name another address
      ["::ffff:203.0.113.5", undefined, "203.0.113.5"],
      ["10.1.2.3", "198.51.100.1", "198.51.100.1"],
      ["10.1.2.3", "1.1.1.1, 198.51.100.1, 10.9.9.9", "198.51.100.1"], // the client wrote 1.1.1.1
      ["::1", "198.51.100.1", "198.51.100.1"],
      ["10.1.2.3", undefined, "10.1.2.3"],
      ["11.0.0.1", "198.51.100.1", "11.0.0.1"],
      ["2001:db8:1:2:aaaa::1", undefined, "2001:db8:1:2::/64"],
      ["2001:db8:1:2:bbbb:cccc:dddd:eeee", undefined, "2001:db8:1:2::/64"],
      ["2001:0db8::1", undefined, "2001:db8:0:0::/64"],
    ] as const
  ) {
    await t.step(`${peer} ${forwarded ?? "-"} → ${expected}`, async () => {
      const headers: Record<string, string> = forwarded ? { "x-forwarded-for": forwarded } : {};
      const res = await app.request("/", { headers }, from(peer));
      assert.equal(await res.text(), expected);
    });
  }
  await t.step("no remote address (not served by a server) → one shared key", async () => {
    const res = await app.request("/");
    assert.equal(await res.text(), "unknown");
  });
});

/** The order API with limits on a clock the test moves. */
function limitedApp(env: Record<string, string>) {
  let now = 0;
  const config = loadConfig(env);
  const app = orderApp({
    config,
    admission: new Admission(publisher, { maxPending: 100, ackTimeoutMs: 1000 }),
    view: new OrderView(),
    log: quiet,
    limits: clientLimits(config, () => now),
  });
  const post = (peer: string, headers: Record<string, string> = {}) =>
    app.request("/orders", {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: order,
    }, from(peer));
  return { app, post, advance: (ms: number) => now += ms };
}

async function count(
  metric: typeof httpRequests | typeof ordersRefused,
  labels: Record<string, string>,
): Promise<number> {
  const { values } = await metric.get();
  return values.find((v) =>
    Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l)
  )?.value ??
    0;
}

Deno.test("POST /orders over the client's rate is a 429 problem with Retry-After", async () => {
  const { post, advance } = limitedApp({ ORDER_RATE_PER_S: "0.5", ORDER_BURST: "2" });
  const before = await count(ordersRefused, { reason: "rate_limit_exceeded", status: "429" });
  const before429 = await count(httpRequests, { method: "POST", route: "/orders", status: "429" });
  for (let i = 0; i < 2; i++) assert.equal((await post("203.0.113.5")).status, 202);
  const refused = await post("203.0.113.5");
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get("content-type"), "application/problem+json");
  assert.equal(refused.headers.get("retry-after"), "2"); // 1 token at 0.5/s
  const problem = await refused.json();
  assert.equal(problem.title, "Rate limit exceeded");
  assert.equal(
    problem.detail,
    "Cannot accept order: more than 0.5 orders a second (bursts of 2) from this client address; retry in 2 s",
  );
  // Another client is not held back by this one; a forged X-Forwarded-For does not get through.
  assert.equal((await post("198.51.100.7")).status, 202);
  assert.equal((await post("203.0.113.5", { "x-forwarded-for": "192.0.2.1" })).status, 429);
  advance(1500);
  const soon = await post("203.0.113.5");
  assert.equal(soon.headers.get("retry-after"), "1", "0.25 tokens short: 0.5 s, rounded up");
  await soon.body?.cancel();
  advance(500);
  assert.equal((await post("203.0.113.5")).status, 202);
  assert.equal(
    await count(ordersRefused, { reason: "rate_limit_exceeded", status: "429" }) - before,
    3,
  );
  assert.equal(
    await count(httpRequests, { method: "POST", route: "/orders", status: "429" }) - before429,
    3,
  );
});

Deno.test("POST /orders with ORDER_RATE_PER_S=0 is never limited", async () => {
  const { post } = limitedApp({ ORDER_RATE_PER_S: "0", ORDER_BURST: "1" });
  for (let i = 0; i < 50; i++) assert.equal((await post("127.0.0.1")).status, 202);
});

/** The whole gateway app (every stream route) with one stream per client. */
function gatewayApp(env: Record<string, string> = { STREAMS_PER_CLIENT: "1" }) {
  const view = new OrderView();
  view.accept("o-1", { name: "Pizza", price: 12990, email: "a@b.cl" }, "0".repeat(32));
  const app = createGatewayApp({
    access: testAccess(),
    config: loadConfig(env),
    admission: new Admission(publisher, { maxPending: 100, ackTimeoutMs: 1000 }),
    view,
    analytics: new PurchaseAnalyticsView(),
    log: quiet,
  });
  return {
    view,
    // As staff: the list and analytics streams are theirs (an order's stream is its link's).
    open: (path: string, peer = "203.0.113.5", headers: Record<string, string> = STAFF_HEADERS) =>
      app.request(path, { headers }, from(peer)),
  };
}

Deno.test("an event stream beyond the client's cap is a 429 until one closes", async (t) => {
  for (
    const path of ["/orders/o-1/events", "/orders?watch=true", "/analytics/purchases/events"]
  ) {
    await t.step(path, async () => {
      const { open } = gatewayApp();
      const first = await open(path);
      assert.equal(first.status, 200);
      assert.match(first.headers.get("content-type") ?? "", /^text\/event-stream/);
      for (const other of ["/orders/o-1/events", "/orders?watch=true", path]) {
        const refused = await open(other);
        assert.equal(refused.status, 429, other);
        assert.equal(refused.headers.get("retry-after"), "5");
        assert.equal((await refused.json()).title, "Too many open streams");
      }
      // Not a stream: never counted.
      assert.equal((await open("/orders?watch=false")).status, 200);
      // Refused by its guard (anonymous on a staff stream): holds nothing of another address's.
      const anonymous = await open("/orders?watch=true", "192.0.2.9", {});
      assert.equal(anonymous.status, 401);
      await anonymous.body?.cancel();
      const staff = await open("/orders?watch=true", "192.0.2.9");
      assert.equal(staff.status, 200);
      await staff.body!.cancel();
      // Another client has its own streams.
      const other = await open(path, "198.51.100.7");
      assert.equal(other.status, 200);
      await other.body!.cancel();
      // The client goes away: its slot is free again.
      await first.body!.cancel();
      const again = await open(path);
      assert.equal(again.status, 200);
      await again.body!.cancel();
    });
  }
});

Deno.test("an event stream that ends or is never opened gives its slot back", async () => {
  const { open, view } = gatewayApp();
  // No such order: a 404, holding nothing.
  for (let i = 0; i < 3; i++) assert.equal((await open("/orders/nope/events")).status, 404);
  const held = await open("/orders/o-1/events");
  const reader = held.body!.getReader();
  // Open (no state reached yet, so nothing to read), and holding the one slot.
  assert.equal((await open("/orders/o-1/events")).status, 429);
  // The order finishes: its stream ends by itself, and the slot is free.
  const order = { name: "Pizza", price: 12990, email: "a@b.cl" };
  view.applyTransition({
    v: 1,
    type: "OrderTransition",
    id: "o-1",
    order,
    state: "finalizado",
    seq: 4,
    at: new Date().toISOString(),
    requestedAt: new Date().toISOString(),
    next: null,
  });
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  assert.match(text, /event: end/);
  const after = await open("/orders/o-1/events");
  assert.equal(after.status, 200);
  await after.text(); // a finished order's stream is its history and its end
  assert.equal((await open("/orders/o-1/events")).status, 200);
});

Deno.test("STREAMS_PER_CLIENT=0 leaves event streams unlimited", async () => {
  const { open } = gatewayApp({ STREAMS_PER_CLIENT: "0" });
  const streams = [];
  for (let i = 0; i < 20; i++) {
    const res = await open("/orders/o-1/events");
    assert.equal(res.status, 200);
    streams.push(res);
  }
  for (const s of streams) await s.body!.cancel();
});
