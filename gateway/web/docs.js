/**
 * Starts Swagger UI on the gateway's own OpenAPI document. `validatorUrl: null`: Swagger UI would
 * otherwise send the document to an online validator; this page talks to the gateway only.
 */
// @ts-ignore: SwaggerUIBundle is the global that swagger-ui-bundle.js defines.
globalThis.ui = globalThis.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  // @ts-ignore: as above.
  presets: [globalThis.SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
