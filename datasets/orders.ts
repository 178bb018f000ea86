/**
 * The seed's order datasets: for each row, a name of 1–100 random letters and digits, a price
 * uniform between 1 and 1,000,000, and an email (the report's Python generator, Figure 1).
 */
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { type OrderInput, OrderInputSchema } from "../lib/order.ts";
import { seeded } from "./prng.ts";

/** The seed the checked-in `orders-100.csv` and `orders-1000.csv` were generated with. */
export const ORDERS_SEED = 2024;

const ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/**
 * Generates `count` orders, the same ones for the same seed.
 *
 * @param count Rows.
 * @param seed The generator's seed.
 * @returns Valid order bodies (price rounded to cents).
 */
export function generateOrders(count: number, seed: number = ORDERS_SEED): OrderInput[] {
  const random = seeded(seed);
  return Array.from({ length: count }, (_, i) => {
    const length = random.int(1, 100);
    let name = "";
    for (let c = 0; c < length; c++) name += random.pick([...ALPHANUMERIC]);
    const price = Math.round(random.float(1, 1_000_000) * 100) / 100;
    return { name, price, email: `cliente${i + 1}@despacho.example` };
  });
}

/**
 * Writes orders as CSV with the header `name,price,email`.
 *
 * @param orders The rows.
 */
export function ordersToCsv(orders: readonly OrderInput[]): string {
  return stringify(orders.map((o) => [o.name, o.price.toFixed(2), o.email]), {
    header: true,
    columns: ["name", "price", "email"],
  });
}

/**
 * Reads a dataset CSV, validating every row as `POST /orders` would.
 *
 * @param text CSV with the header `name,price,email`.
 * @returns The orders, in file order.
 * @throws {TypeError} Naming the first bad line and what is wrong with it.
 */
export function readOrdersCsv(text: string): OrderInput[] {
  const rows: Record<string, string>[] = parse(text, {
    columns: true,
    skip_empty_lines: true,
    trim: true,
  });
  return rows.map((row, i) => {
    const line = i + 2;
    const price = Number(row.price);
    const parsed = OrderInputSchema.safeParse({
      name: row.name,
      price: row.price === "" ? NaN : price,
      email: row.email,
    });
    if (!parsed.success) {
      const why = parsed.error.issues.map((x) => `${x.path.join(".")} ${x.message}`).join("; ");
      throw new TypeError(`Cannot read orders: line ${line} is invalid: ${why}`);
    }
    return parsed.data;
  });
}
