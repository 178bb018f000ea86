/**
 * The web page in a real browser (Debian's Chromium driven by playwright-core) against the real
 * system: a broker, the gateway, and the processing, notification and purchase-analytics roles.
 * Screenshots of each page go to `.cache/screenshots/`; with `UPDATE_SCREENSHOTS=1` the README's
 * copies in `docs/screenshots/` are rewritten too.
 */
import { STAFF_HEADERS, TEST_STAFF_TOKEN } from "../../infra/test_access.ts";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { generatePurchases, readWords } from "../../datasets/purchases.ts";
import { startGateway } from "../../gateway/server.ts";
import { findChromium, launchBrowser, SCREENSHOT_DIR } from "../../infra/browser.ts";
import { testEnv } from "../../infra/testing.ts";
import { type Config, loadConfig } from "../../lib/config.ts";
import { createLogger } from "../../lib/log.ts";
import { run as runNotification } from "../notification.ts";
import { run as runProcessing } from "../processing.ts";
import { run as runAnalytics } from "../purchase_analytics.ts";
import { startRoles } from "./_roles.ts";

const DOCS_SCREENSHOTS = new URL("../../docs/screenshots/", import.meta.url).pathname;
const say = (line: string) => console.error(`[browser test] ${line}`);
const log = createLogger("browser-test", "error");
const chromium = findChromium({
  CHROMIUM_PATH: Deno.env.get("CHROMIUM_PATH"),
  SKIP_BROWSER_TESTS: Deno.env.get("SKIP_BROWSER_TESTS"),
});
if ("skip" in chromium) say(chromium.skip);

/**
 * Polls `probe` until it gives a value, printing progress every 10 s.
 *
 * @throws {Error} After `timeoutMs`, naming what was awaited and the last value seen.
 */
async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 90_000,
): Promise<T> {
  const start = Date.now();
  let reported = start;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    const now = Date.now();
    if (now - start > timeoutMs) {
      throw new Error(`Timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    }
    if (now - reported >= 10_000) {
      say(`still waiting for ${what} (${Math.round((now - start) / 1000)} s)`);
      reported = now;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startSystem() {
  const config: Config = loadConfig(
    await testEnv("web", {
      TOPIC_PARTITIONS: "2",
      INSTANCE_ID: "web",
      PORT: "0",
      STAGE_DWELL_MS: "300",
      OUTBOX_DIR: await Deno.makeTempDir({ prefix: "despacho-web-outbox-" }),
      ANALYTICS_WINDOW_MS: "1000",
      ANALYTICS_LATENESS_MS: "0",
      ANALYTICS_IDLE_MS: "300",
      PURCHASE_CONSOLE: "off",
      LOG_LEVEL: "error",
    }),
  );
  say("starting the gateway and the three roles");
  const gateway = await startGateway(config, log);
  const roles = startRoles(config, log, {
    processing: runProcessing,
    notification: runNotification,
    "purchase-analytics": runAnalytics,
  });
  return {
    url: gateway.url,
    async stop() {
      await roles.stop().catch(() => {});
      await gateway.stop();
      await Deno.remove(config.OUTBOX_DIR, { recursive: true }).catch(() => {});
    },
  };
}

/** Saves a screenshot; `forDocs` ones are the README's (`UPDATE_SCREENSHOTS=1` rewrites them). */
async function screenshot(
  page: Page,
  name: string,
  { fullPage = true, forDocs = true } = {},
): Promise<void> {
  await Deno.mkdir(SCREENSHOT_DIR, { recursive: true });
  const png = await page.screenshot({ fullPage, animations: "disabled" });
  await Deno.writeFile(`${SCREENSHOT_DIR}/${name}.png`, png);
  if (forDocs && Deno.env.get("UPDATE_SCREENSHOTS") === "1") {
    await Deno.mkdir(DOCS_SCREENSHOTS, { recursive: true });
    await Deno.writeFile(`${DOCS_SCREENSHOTS}${name}.png`, png);
  }
  say(`screenshot ${SCREENSHOT_DIR}/${name}.png`);
}

const text = (page: Page, selector: string) =>
  page.locator(selector).first().textContent({ timeout: 5_000 }).then((t) => t?.trim() ?? "");

Deno.test({
  name:
    "web page in Chromium: a signed-out visitor sees neither list nor dashboard and follows an order by its link; staff sign in by the printed link; an order by keyboard reaches finalizado, field errors from the API, purchase windows on the dashboard, phone width, /docs",
  ignore: "skip" in chromium,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    if (!("path" in chromium)) {
      const reason = "missing" in chromium ? chromium.missing : chromium.skip;
      say(reason);
      throw new Error(reason);
    }
    const system = await startSystem();
    say(`gateway at ${system.url}; starting ${chromium.path}`);
    const browser = await launchBrowser(chromium.path);
    const elsewhere: string[] = [];
    const problems: string[] = [];
    browser.context.on("request", (request) => {
      const url = request.url();
      if (!url.startsWith(`${system.url}/`) && !url.startsWith("data:")) elsewhere.push(url);
    });
    try {
      const page = browser.context.pages()[0] ?? await browser.context.newPage();
      page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
      page.on("console", (message) => {
        // Chromium logs every non-2xx fetch; the 422 of the invalid form and the 401 that tells
        // the page its visitor is not signed in are expected.
        if (message.type() === "error" && !/status of (422|401)/.test(message.text())) {
          problems.push(`console: ${message.text()}`);
        }
      });
      await t.step(
        "a signed-out visitor gets neither the order list nor the dashboard, and follows an order by its tracking link",
        async () => {
          await page.goto(`${system.url}/`);
          await page.locator("#acceso").waitFor({ state: "visible", timeout: 30_000 });
          assert.equal(await page.isVisible("#recientes"), false, "no order list");
          assert.equal(await page.isVisible("#compras"), false, "no dashboard");
          for (const path of ["/orders?limit=5", "/analytics/purchases", "/docs", "/metrics"]) {
            const res = await page.request.get(`${system.url}${path}`);
            assert.equal(res.status(), 401, `${path} refuses a signed-out visitor`);
          }
          // A customer places an order and gets its link; the link opens that order elsewhere.
          await page.fill("#name", "Empanadas");
          await page.fill("#price", "4990");
          await page.fill("#email", "cliente@example.cl");
          await page.click("#pedido button[type=submit]");
          const link = await waitFor("the tracking link", async () => {
            const href = await page.getAttribute("#seg-enlace", "href");
            return href?.includes("#pedido=") ? href : undefined;
          });
          assert.match(link, /\/#pedido=[A-Za-z0-9_-]{22}$/);
          const customer = await browser.context.newPage();
          await customer.goto(new URL(link, system.url).href);
          await waitFor(
            "finalizado on the customer's page",
            async () => (await text(customer, "#seg-estado")) === "finalizado" ? true : undefined,
          );
          assert.equal(await text(customer, "#seg-producto"), "Empanadas");
          assert.equal(await customer.isVisible("#recientes"), false);
          await screenshot(customer, "seguimiento", { fullPage: false, forDocs: false });
          await customer.close();
          // A made-up link shows nothing.
          const stranger = await browser.context.newPage();
          await stranger.goto(`${system.url}/#pedido=AAAAAAAAAAAAAAAAAAAAAA`);
          await waitFor(
            "the page to say the link is unknown",
            async () =>
              /No encontramos/.test(await text(stranger, "#seguimiento-vacio")) || undefined,
          );
          await stranger.close();
        },
      );

      // Staff sign in with the link `deno task start` prints (the token in the fragment).
      await page.goto(`${system.url}/#token=${TEST_STAFF_TOKEN}`);
      await page.locator("#recientes").waitFor({ state: "visible", timeout: 30_000 });
      assert.equal(new URL(page.url()).hash, "", "the token left the address bar");
      assert.equal(await page.isVisible("#acceso"), false);
      await waitFor(
        "the page to be live",
        async () => (await text(page, "#conexion")) === "En vivo" ? true : undefined,
      );

      await t.step(
        "an order placed by keyboard reaches finalizado on the page, with times and four mails",
        async () => {
          await page.focus("#name");
          await page.keyboard.type("Pizza napolitana");
          await page.keyboard.press("Tab");
          await page.keyboard.type("12990");
          await page.keyboard.press("Tab");
          await page.keyboard.type("cliente@example.cl");
          await page.keyboard.press("Enter");
          const id = await waitFor(
            "the tracker to show the order id",
            async () => (await text(page, "#seg-id")) || undefined,
          );
          say(`order ${id} placed; waiting for finalizado`);
          await waitFor(
            "finalizado on the page",
            async () => (await text(page, "#seg-estado")) === "finalizado" ? true : undefined,
          );
          const times = await page.locator(".estados li.hecho time").allTextContents();
          assert.equal(times.length, 4);
          assert.ok(times.every((time) => /^\d{2}:\d{2}:\d{2}[,.]\d{3}$/.test(time)), times.join());
          await waitFor(
            "four mails on the page",
            async () => (await page.locator("#correos li").count()) === 4 ? true : undefined,
          );
          const mails = await page.locator("#correos li").allTextContents();
          assert.ok(mails.every((m) => /enviado a cliente@example\.cl/.test(m)), mails.join("\n"));
          await waitFor(
            "the order as finalizado in the recent list",
            async () =>
              (await text(page, `#recientes tr[data-id="${id}"] .estado`)) === "finalizado"
                ? true
                : undefined,
          );
          const status = await (await fetch(`${system.url}/orders/${id}`)).json();
          assert.equal(status.state, "finalizado");
          assert.deepEqual(status.order, {
            name: "Pizza napolitana",
            price: 12990,
            email: "cliente@example.cl",
          });
        },
      );

      await t.step(
        "an invalid form shows the API's own field errors next to each field",
        async () => {
          const body = { name: "", price: 0, email: "no-es-correo" };
          await page.fill("#name", body.name);
          await page.fill("#price", String(body.price));
          await page.fill("#email", body.email);
          await page.click("#pedido button[type=submit]");
          const api = await (await fetch(`${system.url}/orders`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          })).json();
          assert.deepEqual(api.errors.map((e: { field: string }) => e.field), [
            "name",
            "price",
            "email",
          ]);
          for (const { field, message } of api.errors as { field: string; message: string }[]) {
            await waitFor(
              `the ${field} error next to its field`,
              async () => (await text(page, `#${field}-error`)) === message ? true : undefined,
            );
            assert.equal(await page.getAttribute(`#${field}`, "aria-invalid"), "true");
          }
          assert.equal(
            await page.evaluate("document.activeElement?.id"),
            "name",
          );
          await page.locator("#pedido").scrollIntoViewIfNeeded();
          await screenshot(page, "errores", { fullPage: false, forDocs: false });
        },
      );

      await t.step(
        "purchase events POSTed to the gateway appear as windows on the dashboard",
        async () => {
          const windowMs = 1000;
          const startMs = Math.floor((Date.now() - 120_000) / windowMs) * windowMs;
          const events = generatePurchases(await readWords(), {
            count: 360,
            seed: 11,
            startMs,
            intervalMs: 25,
          });
          for (let batch = 0; batch < 3; batch++) {
            const lines = events.slice(batch * 120, (batch + 1) * 120);
            const res = await fetch(`${system.url}/purchases`, {
              method: "POST",
              headers: { "content-type": "application/x-ndjson", ...STAFF_HEADERS },
              body: lines.map((e) => JSON.stringify(e)).join("\n"),
            });
            assert.equal(res.status, 202, await res.text());
            const rows = batch * 3 + 1;
            await waitFor(
              `at least ${rows} window rows on the dashboard`,
              async () =>
                (await page.locator("#ventanas tbody tr").count()) >= rows ? true : undefined,
            );
          }
          await waitFor(
            "the totals to count all 360 events",
            async () =>
              (await text(page, '#totales [data-total="events"]')) === "360" ? true : undefined,
          );
          // Every partition's part of every window has arrived: the rows add up to the totals.
          await waitFor("the windows on the dashboard to add up to 360 events", async () => {
            const counts = await page.locator("#ventanas tbody tr td:nth-child(2)")
              .allTextContents();
            return counts.reduce((sum, n) => sum + Number(n.replace(/\./g, "")), 0) === 360
              ? true
              : undefined;
          });
          const purchases = events.filter((e) => e.taps !== null && e.taps > 0).length;
          assert.equal(await text(page, '#totales [data-total="purchases"]'), String(purchases));
          assert.equal(await page.locator("#grafico-eventos canvas").count(), 1);
          assert.ok((await page.locator("#productos li .barra").count()) >= 1);
          await screenshot(page, "pagina");
        },
      );

      await t.step(
        "at phone width the page fits the screen and the form stays usable",
        async () => {
          await page.setViewportSize({ width: 390, height: 844 });
          await page.evaluate("window.scrollTo(0, 0)");
          await page.waitForTimeout(300);
          const widths = await page.evaluate<number[]>(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]",
          );
          assert.ok(
            widths[0]! <= widths[1]!,
            `page is ${widths[0]} px wide on a ${widths[1]} px screen`,
          );
          assert.ok(await page.isVisible("#pedido button[type=submit]"));
          await page.locator("#seguimiento").scrollIntoViewIfNeeded();
          await screenshot(page, "telefono", { fullPage: false });
          await page.setViewportSize({ width: 1280, height: 900 });
        },
      );

      await t.step("/docs renders the OpenAPI document from the gateway's own files", async () => {
        await page.goto(`${system.url}/docs`);
        await waitFor(
          "Swagger UI to list the operations",
          async () => (await page.locator(".opblock").count()) >= 14 ? true : undefined,
        );
        assert.match(await text(page, ".info .title"), /Despacho/);
        await screenshot(page, "docs");
      });

      assert.deepEqual(elsewhere, [], "the page loaded nothing from outside the gateway");
      assert.deepEqual(problems, [], "no script error and no refused resource");
    } finally {
      await browser.close();
      await system.stop();
    }
  },
});
