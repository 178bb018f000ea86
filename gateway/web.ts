/**
 * The web page at `/` and its assets under `/assets/`. Every file is imported as a text module
 * (`with { type: "text" }`), the chart library straight from its npm package, so the files are
 * part of the module graph: `deno compile` embeds them in the gateway binary with no `--include`,
 * and the page needs no network beyond the gateway (its Content-Security-Policy allows nothing
 * else).
 */
import { anyone } from "./audiences.ts";
import { Hono } from "hono";
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import { HttpProblem } from "./problem.ts";
import appJs from "./web/app.js" with { type: "text" };
import indexHtml from "./web/index.html" with { type: "text" };
import styleCss from "./web/style.css" with { type: "text" };

/** A file the gateway serves. */
export interface StaticAsset {
  /** Its `content-type`. */
  type: string;
  body: string;
}

/**
 * The Content-Security-Policy of a page the gateway serves: it loads only the gateway's own files
 * and streams, and is framed by no one.
 *
 * @param options `inlineStyles` for a page whose library sets `style` attributes (Swagger UI).
 * @returns The header's value.
 */
export function pagePolicy(options: { inlineStyles?: boolean } = {}): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    options.inlineStyles ? "style-src 'self' 'unsafe-inline'" : "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** What the page may load: only the gateway's own files and streams. */
export const PAGE_CSP = pagePolicy();

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";
const HTML = "text/html; charset=utf-8";

/** The files under `/assets/`, by name. */
export const PAGE_ASSETS: Readonly<Record<string, StaticAsset>> = {
  "app.js": { type: JS, body: appJs },
  "style.css": { type: CSS, body: styleCss },
  "uplot.js": { type: JS, body: uplotJs },
  "uplot.css": { type: CSS, body: uplotCss },
};

/**
 * A handler answering one file, with a strong ETag (a `304` when the client has it) and headers
 * that keep the browser from guessing types or loading anything from elsewhere.
 *
 * @param asset The file.
 * @param csp The Content-Security-Policy sent with it.
 * @returns A `Response` factory taking the request's `If-None-Match`.
 */
export function assetResponder(
  asset: StaticAsset,
  csp: string,
): (ifNoneMatch: string | undefined) => Promise<Response> {
  let etag: Promise<string> | undefined;
  return async function answerAsset(ifNoneMatch) {
    etag ??= crypto.subtle.digest("SHA-256", new TextEncoder().encode(asset.body)).then((d) =>
      `"${
        [...new Uint8Array(d).slice(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("")
      }"`
    );
    const headers = {
      "content-type": asset.type,
      "cache-control": "no-cache",
      "etag": await etag,
      "content-security-policy": csp,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    };
    if (ifNoneMatch === headers.etag) return new Response(null, { status: 304, headers });
    return new Response(asset.body, { status: 200, headers });
  };
}

/**
 * Answers one of `assets` by name, or a 404 problem.
 *
 * @param assets Files by name.
 * @param csp The Content-Security-Policy sent with them.
 */
export function assetRoute(assets: Readonly<Record<string, StaticAsset>>, csp: string) {
  const responders = new Map(
    Object.entries(assets).map(([name, asset]) => [name, assetResponder(asset, csp)]),
  );
  return function serveAsset(c: {
    req: { param(name: "name"): string; header(name: string): string | undefined };
  }) {
    const name = c.req.param("name");
    const answer = responders.get(name);
    if (answer === undefined) {
      throw new HttpProblem(404, "Asset not found", `Cannot find asset: none is named "${name}"`);
    }
    return answer(c.req.header("If-None-Match"));
  };
}

/**
 * The page routes: `GET /` and `GET /assets/{name}`.
 *
 * @returns A Hono app to mount at `/`.
 */
export function createWebRoutes(): Hono {
  const app = new Hono();
  const page = assetResponder({ type: HTML, body: indexHtml }, PAGE_CSP);
  app.get("/", anyone, (c) => page(c.req.header("If-None-Match")));
  app.get("/assets/:name", anyone, assetRoute(PAGE_ASSETS, PAGE_CSP));
  return app;
}
