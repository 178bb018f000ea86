import assert from "node:assert/strict";
import {
  IllegalTransitionError,
  nextState,
  ORDER_STATES,
  OrderInputSchema,
  type OrderState,
  transitionTo,
} from "./order.ts";

const FROM: (OrderState | null)[] = [null, ...ORDER_STATES];
const LEGAL = new Set([
  "null→recibido",
  "recibido→preparando",
  "preparando→entregando",
  "entregando→finalizado",
]);

Deno.test("transitionTo() allows exactly the four forward moves and refuses every other", async (t) => {
  for (const from of FROM) {
    for (const to of ORDER_STATES) {
      const move = `${from}→${to}`;
      await t.step(move, () => {
        if (LEGAL.has(move)) {
          assert.equal(transitionTo(from, to), to);
          return;
        }
        assert.throws(() => transitionTo(from, to), (error: unknown) => {
          assert.ok(error instanceof IllegalTransitionError);
          assert.equal(error.code, "ILLEGAL_TRANSITION");
          assert.equal(error.retriable, false);
          assert.equal(error.from, from);
          assert.equal(error.to, to);
          return true;
        });
      });
    }
  }
});

Deno.test("transitionTo() names the allowed next states in its message", () => {
  assert.throws(() => transitionTo("recibido", "finalizado"), {
    name: "IllegalTransitionError",
    message: "Cannot move order from recibido to finalizado: allowed next states are preparando",
  });
  assert.throws(() => transitionTo("finalizado", "recibido"), {
    message: "Cannot move order from finalizado to recibido: allowed next states are none",
  });
  assert.throws(() => transitionTo(null, "preparando"), {
    message: "Cannot move order from new to preparando: allowed next states are recibido",
  });
});

Deno.test("nextState() walks the four states and stops", () => {
  const walked: (OrderState | null)[] = [];
  for (let s = nextState(null); s !== null; s = nextState(s)) walked.push(s);
  assert.deepEqual(walked, [...ORDER_STATES]);
});

Deno.test("OrderInputSchema accepts the seed's fields and refuses everything else", async (t) => {
  const good = { name: "Ab3", price: 1234.5, email: "a@b.cl" };
  const cases: [string, unknown, boolean][] = [
    ["a valid order", good, true],
    ["name of 1", { ...good, name: "x" }, true],
    ["name of 100", { ...good, name: "x".repeat(100) }, true],
    ["price 1", { ...good, price: 1 }, true],
    ["price 1,000,000", { ...good, price: 1_000_000 }, true],
    ["name of 0", { ...good, name: "" }, false],
    ["name of 101", { ...good, name: "x".repeat(101) }, false],
    ["name a number", { ...good, name: 12 }, false],
    ["price 0.99", { ...good, price: 0.99 }, false],
    ["price 1,000,000.01", { ...good, price: 1_000_000.01 }, false],
    ["price a string", { ...good, price: "10" }, false],
    ["price missing", { name: "x", email: "a@b.cl" }, false],
    ["email invalid", { ...good, email: "a@" }, false],
    ["email with LF", { ...good, email: "a@b.cl\n" }, false],
    ["email with CR", { ...good, email: "a\r@b.cl" }, false],
    ["an extra field", { ...good, id: "x" }, false],
    ["not an object", "order", false],
  ];
  for (const [name, input, ok] of cases) {
    await t.step(name, () => assert.equal(OrderInputSchema.safeParse(input).success, ok));
  }
});
