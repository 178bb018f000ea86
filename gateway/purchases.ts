/**
 * `POST /purchases`: one purchase event (`application/json`) or a batch, one per line
 * (`application/x-ndjson`). Every item is validated; the valid ones are published to the events
 * topic keyed by person id (acks=all), the invalid ones are reported by line and never reach
 * Kafka. All valid: 202. Some invalid: 207 with the per-line errors. None valid: 422 problem.
 */
import { Hono } from "hono";
import { type Purchase, PurchaseSchema } from "../lib/purchase.ts";
import { type FieldError, fieldErrors, HttpProblem } from "../lib/problem.ts";
import { limitBody } from "./body_limit.ts";
import type { Publisher } from "./publisher.ts";

/** What the purchase routes need. */
export interface PurchaseRoutesDeps {
  publisher: Publisher;
  topic: string;
  maxBodyBytes: number;
}

/** One refused line of a batch. */
export interface LineError {
  /** 1-based line of the body. */
  line: number;
  errors: FieldError[];
}

/**
 * Validates the items of a body.
 *
 * @param text The body.
 * @param ndjson One item per line (blank lines skipped), or one JSON document.
 * @returns The valid events and the refused lines.
 */
export function parsePurchases(
  text: string,
  ndjson: boolean,
): { valid: Purchase[]; invalid: LineError[] } {
  const lines = ndjson
    ? text.split("\n").map((l, i) => [i + 1, l.trim()] as const).filter(([, l]) => l !== "")
    : [[1, text] as const];
  const valid: Purchase[] = [];
  const invalid: LineError[] = [];
  for (const [line, item] of lines) {
    let json: unknown;
    try {
      json = JSON.parse(item);
    } catch {
      invalid.push({ line, errors: [{ field: "(body)", message: "is not valid JSON" }] });
      continue;
    }
    const parsed = PurchaseSchema.safeParse(json);
    if (parsed.success) valid.push(parsed.data);
    else invalid.push({ line, errors: fieldErrors(parsed.error.issues) });
  }
  return { valid, invalid };
}

/**
 * The `/purchases` routes.
 *
 * @param deps Publisher, topic, body limit.
 */
export function createPurchaseRoutes(deps: PurchaseRoutesDeps): Hono {
  const app = new Hono();
  app.post(
    "/",
    limitBody(deps.maxBodyBytes, "purchases"),
    async function postPurchases(c) {
      const type = c.req.header("content-type") ?? "";
      const ndjson = /^application\/(x-)?ndjson\s*(;|$)/i.test(type);
      if (!ndjson && !/^application\/json\s*(;|$)/i.test(type)) {
        throw new HttpProblem(
          415,
          "Unsupported media type",
          `Cannot accept purchases: content type must be application/json or application/x-ndjson: current value is "${type}"`,
          {
            errors: [{
              field: "content-type",
              message: "must be application/json or application/x-ndjson",
            }],
          },
        );
      }
      const { valid, invalid } = parsePurchases(await c.req.text(), ndjson);
      if (valid.length === 0) {
        throw new HttpProblem(
          422,
          "Invalid purchases",
          `Cannot accept purchases: none of ${invalid.length} items is valid`,
          {
            errors: invalid.flatMap((l) =>
              l.errors.map((e) => ({ field: `line ${l.line}: ${e.field}`, message: e.message }))
            ),
          },
        );
      }
      await Promise.all(
        valid.map((p) =>
          deps.publisher.publish({ topic: deps.topic, key: p.id, value: JSON.stringify(p) })
        ),
      );
      return c.json(
        { accepted: valid.length, rejected: invalid.length, errors: invalid },
        invalid.length === 0 ? 202 : 207,
      );
    },
  );
  return app;
}
