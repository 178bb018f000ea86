import assert from "node:assert/strict";
import { OrderInputSchema } from "../lib/order.ts";
import { generateOrders, ORDERS_SEED, ordersToCsv, readOrdersCsv } from "./orders.ts";

const here = new URL(".", import.meta.url).pathname;

Deno.test("generateOrders() is deterministic and every row is a valid order", () => {
  const a = generateOrders(1000, 7);
  assert.deepEqual(a, generateOrders(1000, 7));
  assert.notDeepEqual(a, generateOrders(1000, 8));
  for (const o of a) assert.ok(OrderInputSchema.safeParse(o).success, JSON.stringify(o));
  const lengths = a.map((o) => o.name.length);
  assert.ok(Math.min(...lengths) <= 3 && Math.max(...lengths) >= 98, "name lengths span 1–100");
  const prices = a.map((o) => o.price);
  assert.ok(
    Math.min(...prices) < 10_000 && Math.max(...prices) > 990_000,
    "prices span 1–1,000,000",
  );
});

Deno.test("the checked-in datasets equal a fresh generation with ORDERS_SEED", async (t) => {
  for (const count of [100, 1000]) {
    await t.step(`orders-${count}.csv`, async () => {
      const text = await Deno.readTextFile(`${here}orders-${count}.csv`);
      assert.equal(text, ordersToCsv(generateOrders(count, ORDERS_SEED)));
      assert.equal(readOrdersCsv(text).length, count);
    });
  }
});

Deno.test("readOrdersCsv() round-trips and names the first bad line", () => {
  const orders = generateOrders(5, 1);
  assert.deepEqual(readOrdersCsv(ordersToCsv(orders)), orders);
  assert.throws(() => readOrdersCsv("name,price,email\nPizza,12990,a@b.cl\nSushi,cheap,c@d.cl\n"), {
    name: "TypeError",
    message:
      "Cannot read orders: line 3 is invalid: price Invalid input: expected number, received NaN",
  });
});
