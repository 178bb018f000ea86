/**
 * The API's documents and their reader: `GET /openapi.json` (the HTTP API, `openapi.ts`),
 * `GET /asyncapi.json` (the Kafka topics and records, `asyncapi.ts`) and interactive docs at
 * `GET /docs` (Swagger UI from the npm package `swagger-ui-dist`, served by the gateway), with the
 * docs page's files under `/docs/assets/`.
 */
import { anyone } from "./audiences.ts";
import { Hono, type MiddlewareHandler } from "hono";
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "text" };
import swaggerJs from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "text" };
import type { Config } from "../lib/config.ts";
import { asyncApiDocument } from "./asyncapi.ts";
import { openApiDocument } from "./openapi.ts";
import { assetResponder, assetRoute, pagePolicy, type StaticAsset } from "./web.ts";
import docsHtml from "./web/docs.html" with { type: "text" };
import docsJs from "./web/docs.js" with { type: "text" };

/** The docs page's policy: Swagger UI sets inline styles, and needs nothing else beyond the page's. */
const DOCS_CSP = pagePolicy({ inlineStyles: true });

/** The files under `/docs/assets/`, by name. */
export const DOCS_ASSETS: Readonly<Record<string, StaticAsset>> = {
  "swagger-ui-bundle.js": { type: "text/javascript; charset=utf-8", body: swaggerJs },
  "swagger-ui.css": { type: "text/css; charset=utf-8", body: swaggerCss },
  "docs.js": { type: "text/javascript; charset=utf-8", body: docsJs },
};

/**
 * The docs routes: `GET /openapi.json`, `GET /asyncapi.json` (which names the brokers) and `GET
 * /docs` for staff; `GET /docs/assets/{name}` (Swagger UI's own files, no data) for anyone.
 *
 * @param config The running configuration: the AsyncAPI document describes its topics.
 * @param staff The staff audience's guard.
 * @returns A Hono app to mount at `/`.
 */
export function createDocsRoutes(config: Config, staff: MiddlewareHandler): Hono {
  const app = new Hono();
  let spec: string | undefined;
  app.get("/openapi.json", staff, function openApiJson(c) {
    spec ??= JSON.stringify(openApiDocument());
    return c.body(spec, 200, { "content-type": "application/json; charset=utf-8" });
  });
  let topics: string | undefined;
  app.get("/asyncapi.json", staff, function asyncApiJson(c) {
    topics ??= JSON.stringify(asyncApiDocument(config));
    return c.body(topics, 200, { "content-type": "application/json; charset=utf-8" });
  });
  const page = assetResponder({ type: "text/html; charset=utf-8", body: docsHtml }, DOCS_CSP);
  app.get("/docs", staff, (c) => page(c.req.header("If-None-Match")));
  app.get("/docs/assets/:name", anyone, assetRoute(DOCS_ASSETS, DOCS_CSP));
  return app;
}
