import assert from "node:assert/strict";
import { Hono } from "hono";
import { HttpProblem } from "./problem.ts";
import { limitBody } from "./body_limit.ts";

/** An app behind `limitBody(10)` that echoes the body's length, and the error it last threw. */
function setup() {
  const thrown: unknown[] = [];
  const app = new Hono();
  app.post("/", limitBody(10, "thing"), async (c) => c.text(String((await c.req.text()).length)));
  app.onError((error, c) => {
    thrown.push(error);
    return c.text("refused", 418);
  });
  return { app, thrown };
}

/** A body of `chunks` sent without Content-Length, as a client streaming it would. */
const streamed = (...chunks: string[]) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
      controller.close();
    },
  });

Deno.test("limitBody() passes a body of exactly maxBytes and refuses one byte more with a 413 problem", async (t) => {
  const cases: [string, () => BodyInit, number][] = [
    ["10 bytes", () => "x".repeat(10), 200],
    ["10 bytes streamed in chunks", () => streamed("xxxx", "xxxx", "xx"), 200],
    ["11 bytes", () => "x".repeat(11), 413],
    ["11 bytes streamed, no Content-Length to trust", () => streamed("xxxx", "xxxx", "xxx"), 413],
  ];
  for (const [name, body, status] of cases) {
    await t.step(name, async () => {
      const { app, thrown } = setup();
      const res = await app.request("/", { method: "POST", body: body() });
      if (status === 200) {
        assert.equal(res.status, 200);
        assert.equal(await res.text(), "10");
        return;
      }
      await res.body?.cancel();
      assert.equal(thrown.length, 1);
      const error = thrown[0];
      assert.ok(error instanceof HttpProblem, String(error));
      assert.equal(error.status, 413);
      assert.equal(error.problem.title, "Body too large");
      assert.equal(error.message, "Cannot accept thing: body exceeds 10 bytes");
    });
  }
});
