/**
 * Writes the seed's datasets: `deno task datasets` regenerates `datasets/orders-100.csv` and
 * `datasets/orders-1000.csv`; `--count N --seed S --out FILE` writes another.
 */
import { parseArgs } from "node:util";
import { generateOrders, ORDERS_SEED, ordersToCsv } from "./orders.ts";

const here = new URL(".", import.meta.url).pathname;
const args = parseArgs({
  args: Deno.args,
  options: { count: { type: "string" }, seed: { type: "string" }, out: { type: "string" } },
}).values;
const seed = args.seed === undefined ? ORDERS_SEED : Number(args.seed);
const jobs = args.count === undefined
  ? [{ count: 100, out: `${here}orders-100.csv` }, { count: 1000, out: `${here}orders-1000.csv` }]
  : [{ count: Number(args.count), out: args.out ?? `orders-${args.count}.csv` }];
for (const job of jobs) {
  if (!Number.isInteger(job.count) || job.count < 1 || !Number.isInteger(seed)) {
    console.error(
      `Cannot generate orders: --count and --seed must be whole numbers: current values are ${args.count}, ${args.seed}`,
    );
    Deno.exit(2);
  }
  await Deno.writeTextFile(job.out, ordersToCsv(generateOrders(job.count, seed)));
  console.error(`wrote ${job.count} orders (seed ${seed}) to ${job.out}`);
}
