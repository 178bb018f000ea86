import { loadConfig } from "../lib/config.ts";
import { testAccess } from "../infra/test_access.ts";
import assert from "node:assert/strict";
import { Admission } from "./admission.ts";
import { createLogger } from "../lib/log.ts";
import { OrderView } from "./order_view.ts";
import { PurchaseAnalyticsView } from "./purchase_analytics.ts";
import { createGatewayApp } from "./routes.ts";
import { PAGE_ASSETS } from "./web.ts";

function setup() {
  return createGatewayApp({
    access: testAccess(),
    config: loadConfig({
      TOPIC_ORDER_REQUESTS: "r",
      TOPIC_PURCHASES: "p",
      MAX_BODY_BYTES: String(4096),
      MAX_BATCH_LINES: String(10_000),
    }),
    admission: new Admission(
      { ready: () => true, publish: () => Promise.resolve() },
      { maxPending: 100, ackTimeoutMs: 5_000 },
    ),
    view: new OrderView(),
    analytics: new PurchaseAnalyticsView(),
    log: createLogger("test", "error", () => {}),
  });
}

Deno.test("GET / serves the page in Spanish with a CSP that lets it load only the gateway's own files", async () => {
  const app = setup();
  const res = await app.request("/");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
  const csp = res.headers.get("content-security-policy") ?? "";
  assert.match(csp, /default-src 'none'/);
  for (const directive of ["script-src", "style-src", "connect-src"]) {
    assert.match(csp, new RegExp(`${directive} 'self'(;|$)`), directive);
  }
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  const html = await res.text();
  assert.match(html, /<html lang="es">/);
  const urls = [...html.matchAll(/(?:src|href)="([^"#]+)"/g)].map((m) => m[1]!);
  assert.ok(urls.length >= 6, urls.join(" "));
  for (const url of urls) {
    assert.match(url, /^(\/|data:)/, `${url} is served by the gateway`);
  }
  for (const url of urls.filter((u) => u.startsWith("/assets/"))) {
    const asset = await app.request(url);
    assert.equal(asset.status, 200, url);
    assert.match(asset.headers.get("content-type") ?? "", /^text\/(javascript|css)/, url);
    assert.ok((await asset.text()).length > 100, url);
  }
});

Deno.test("every form field of the page has a label and an error line the script fills", async () => {
  const html = await (await setup().request("/")).text();
  for (const field of ["name", "price", "email"]) {
    assert.match(html, new RegExp(`<label for="${field}">`), `label of ${field}`);
    assert.match(
      html,
      new RegExp(`<input id="${field}"[^>]*aria-describedby="[^"]*${field}-error`),
    );
    assert.match(html, new RegExp(`<p id="${field}-error" class="error"`));
  }
  assert.match(html, /<form id="pedido" novalidate>/, "the API validates, not the browser");
});

Deno.test("GET /assets/{name} answers 304 to its ETag and a 404 problem for an unknown name", async (t) => {
  const app = setup();
  for (const name of Object.keys(PAGE_ASSETS)) {
    await t.step(name, async () => {
      const first = await app.request(`/assets/${name}`);
      await first.body?.cancel();
      const etag = first.headers.get("etag");
      assert.match(etag ?? "", /^"[0-9a-f]{24}"$/);
      const again = await app.request(`/assets/${name}`, { headers: { "If-None-Match": etag! } });
      assert.equal(again.status, 304);
      assert.equal(await again.text(), "");
    });
  }
  await t.step("unknown", async () => {
    const res = await app.request("/assets/nope.js");
    assert.equal(res.status, 404);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    assert.equal((await res.json()).detail, 'Cannot find asset: none is named "nope.js"');
  });
});

Deno.test("the gateway's module graph holds the page, the docs and their npm assets, so deno compile embeds them", async () => {
  const main = new URL("./main.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", main],
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { specifier: string }[];
  };
  const specifiers = graph.modules.map((m) => m.specifier);
  const wanted = [
    /\/gateway\/web\/index\.html$/,
    /\/gateway\/web\/app\.js$/,
    /\/gateway\/web\/style\.css$/,
    /\/gateway\/web\/docs\.html$/,
    /\/gateway\/web\/docs\.js$/,
    /^npm:\/uplot@[\d.]+\/dist\/uPlot\.iife\.min\.js$/,
    /^npm:\/uplot@[\d.]+\/dist\/uPlot\.min\.css$/,
    /^npm:\/swagger-ui-dist@[\d.]+\/swagger-ui-bundle\.js$/,
    /^npm:\/swagger-ui-dist@[\d.]+\/swagger-ui\.css$/,
  ];
  for (const pattern of wanted) {
    assert.ok(specifiers.some((s) => pattern.test(s)), `${pattern} is in the graph`);
  }
});
