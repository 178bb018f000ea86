import assert from "node:assert/strict";
import { z } from "zod";
import { fieldErrors, HttpProblem } from "./problem.ts";

Deno.test("fieldErrors() names each field by its dotted path, the whole body (body), one entry per unknown key", async (t) => {
  const schema = z.strictObject({
    price: z.int(),
    ubicacion: z.strictObject({ pais: z.string() }),
  });
  const cases: [string, unknown, { field: string; message: string }[]][] = [
    ["a top-level field", { price: 1.5, ubicacion: { pais: "Chile" } }, [
      { field: "price", message: "Invalid input: expected int, received number" },
    ]],
    ["a nested field", { price: 1, ubicacion: { pais: 3 } }, [
      { field: "ubicacion.pais", message: "Invalid input: expected string, received number" },
    ]],
    ["not an object", null, [
      { field: "(body)", message: "Invalid input: expected object, received null" },
    ]],
    ["two unknown keys at the top", { price: 1, ubicacion: { pais: "Chile" }, a: 1, b: 2 }, [
      { field: "a", message: "is not an accepted field" },
      { field: "b", message: "is not an accepted field" },
    ]],
    ["an unknown key inside", { price: 1, ubicacion: { pais: "Chile", ciudad: "Arica" } }, [
      { field: "ubicacion.ciudad", message: "is not an accepted field" },
    ]],
  ];
  for (const [name, value, want] of cases) {
    await t.step(name, () => {
      const parsed = schema.safeParse(value);
      assert.equal(parsed.success, false);
      assert.deepEqual(fieldErrors(parsed.error!.issues), want);
    });
  }
});

Deno.test("HttpProblem carries its status, a type derived from its title, and only the extras given", () => {
  const bare = new HttpProblem(404, "Order not found", 'Cannot find order: no order has id "x"');
  assert.equal(bare.name, "HttpProblem");
  assert.equal(bare.message, 'Cannot find order: no order has id "x"');
  assert.equal(bare.status, 404);
  assert.deepEqual(bare.headers, {});
  assert.deepEqual(bare.problem, {
    type: "https://despacho.local/problems/order-not-found",
    title: "Order not found",
    status: 404,
    detail: 'Cannot find order: no order has id "x"',
  });
  const full = new HttpProblem(422, "Invalid order, 2 fields", "Cannot accept order", {
    errors: [{ field: "price", message: "too big" }],
    errorsOmitted: 1,
    headers: { "Retry-After": "2" },
  });
  assert.equal(full.problem.type, "https://despacho.local/problems/invalid-order-2-fields");
  assert.deepEqual(full.problem.errors, [{ field: "price", message: "too big" }]);
  assert.equal(full.problem.errorsOmitted, 1);
  assert.deepEqual(full.headers, { "Retry-After": "2" });
});
