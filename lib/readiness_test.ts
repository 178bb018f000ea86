import assert from "node:assert/strict";
import { Readiness } from "./readiness.ts";

Deno.test("Readiness() is ready until a check has a problem, and again once every problem is cleared", () => {
  const readiness = new Readiness();
  assert.equal(readiness.ready, true);
  readiness.set("smtp", "login refused");
  readiness.set("other", "broken");
  assert.equal(readiness.ready, false);
  assert.deepEqual(readiness.problems(), { smtp: "login refused", other: "broken" });
  readiness.set("smtp", null);
  assert.equal(readiness.ready, false);
  readiness.set("other", null);
  assert.equal(readiness.ready, true);
  assert.deepEqual(readiness.problems(), {});
});
