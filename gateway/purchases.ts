/**
 * `POST /purchases`: one purchase event (`application/json`) or a batch, one per line
 * (`application/x-ndjson`). Every item is validated; the valid ones are published to the events
 * topic keyed by person id (acks=all), the invalid ones are reported by line and never reach
 * Kafka. All valid: 202. Some invalid: 207 with the per-line errors. None valid: 422 problem.
 *
 * A batch is bounded in every dimension a client controls: its bytes (`MAX_BODY_BYTES`), its items
 * (`MAX_BATCH_LINES`, else 413), the errors listed (the first {@linkcode MAX_LINE_ERRORS} lines,
 * then a count), the writes it holds (one admission slot per item, else 429) and the writes in
 * flight at once ({@linkcode PUBLISH_GROUP}). Validation yields to the event loop every few
 * milliseconds, so other requests (`/healthz` too) are answered while a large batch is checked.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { DespachoError } from "../lib/errors.ts";
import { type Purchase, PurchaseSchema } from "../lib/purchase.ts";
import { type FieldError, fieldErrors, HttpProblem } from "./problem.ts";
import type { Admission, Reservation } from "./admission.ts";
import { limitBody } from "./body_limit.ts";
import { traceparentOf } from "./telemetry.ts";
import { TRACEPARENT } from "../lib/tracing.ts";

/** Lines whose errors a response lists; the rest are only counted. */
export const MAX_LINE_ERRORS = 100;

/** Longest validation run, in milliseconds, between two yields to the event loop. */
export const VALIDATION_SLICE_MS = 10;

/** Writes of one batch in flight at once. */
export const PUBLISH_GROUP = 500;

/** What the purchase routes need. */
export interface PurchaseRoutesDeps {
  admission: Admission;
  topic: string;
  maxBodyBytes: number;
  /** Items of one batch, at most. */
  maxBatchLines: number;
  /** The guard of the service audience (a shop's backend, or staff). */
  service: MiddlewareHandler;
}

/** One refused line of a batch. */
export interface LineError {
  /** 1-based line of the body. */
  line: number;
  errors: FieldError[];
}

/** The outcome of validating a body. */
export interface Validated {
  valid: Purchase[];
  /** The first {@linkcode MAX_LINE_ERRORS} refused lines. */
  invalid: LineError[];
  /** Every refused line, listed or not. */
  rejected: number;
}

/**
 * Counts the items of a body, stopping once there are more than `limit`.
 *
 * @param text The body.
 * @param ndjson One item per non-blank line, or one JSON document.
 * @param limit The most items accepted.
 * @returns The number of items, or `limit + 1` when there are more than `limit`.
 */
export function countItems(text: string, ndjson: boolean, limit: number): number {
  if (!ndjson) return 1;
  let count = 0;
  for (let start = 0; start <= text.length && count <= limit;) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    if (/\S/.test(text.slice(start, end))) count++;
    start = end + 1;
  }
  return count;
}

/** How {@linkcode validatePurchases} lists errors and shares the event loop. */
export interface ValidationOptions {
  /** Refused lines listed; the others are counted in `rejected`. @default MAX_LINE_ERRORS */
  maxErrors?: number;
  /** The clock a slice is measured with. @default performance.now */
  now?: () => number;
  /** Gives the event loop a turn between two slices. @default a zero-delay timer */
  pause?: () => Promise<void>;
}

/** How {@linkcode validatePurchases} lists errors and shares the event loop. */
export interface ValidationOptions {
  /** Refused lines listed; the others are counted in `rejected`. @default MAX_LINE_ERRORS */
  maxErrors?: number;
  /** The clock a slice is measured with. @default performance.now */
  now?: () => number;
  /** Gives the event loop a turn between two slices. @default a zero-delay timer */
  pause?: () => Promise<void>;
}

/**
 * Validates the items of a body, yielding to the event loop at least every
 * {@linkcode VALIDATION_SLICE_MS}, so other requests are answered meanwhile.
 *
 * @param text The body.
 * @param ndjson One item per line (blank lines skipped), or one JSON document.
 * @param options Error list length, clock and pause (the last two for tests).
 * @returns The valid events and the refused lines.
 */
export async function validatePurchases(
  text: string,
  ndjson: boolean,
  options: ValidationOptions = {},
): Promise<Validated> {
  const {
    maxErrors = MAX_LINE_ERRORS,
    now = () => performance.now(),
    pause = () => new Promise<void>((r) => setTimeout(r, 0)),
  } = options;
  const result: Validated = { valid: [], invalid: [], rejected: 0 };
  const refuse = (line: number, errors: FieldError[]) => {
    result.rejected++;
    if (result.invalid.length < maxErrors) result.invalid.push({ line, errors });
  };
  let seen = 0;
  let line = 0;
  let sliceStart = now();
  for (let start = 0; start <= text.length;) {
    let end = ndjson ? text.indexOf("\n", start) : text.length;
    if (end === -1) end = text.length;
    const item = text.slice(start, end).trim();
    start = end + 1;
    line++;
    if (item === "" && ndjson) continue;
    // The clock is read every 64 items: cheap, and a slice overruns by 64 items at most.
    if (++seen % 64 === 0 && now() - sliceStart > VALIDATION_SLICE_MS) {
      await pause();
      sliceStart = now();
    }
    // A purchase is an object: anything else is refused without the cost of a parse error.
    if (item[0] !== "{") {
      refuse(line, [{ field: "(body)", message: "is not a JSON object" }]);
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(item);
    } catch {
      refuse(line, [{ field: "(body)", message: "is not valid JSON" }]);
      continue;
    }
    // Once the error list is full, what is plainly not a purchase event is only counted: the
    // schema's report of every missing field costs more than the rest of the line's handling.
    if (result.invalid.length >= maxErrors && !looksLikePurchase(json)) {
      result.rejected++;
      continue;
    }
    const parsed = PurchaseSchema.safeParse(json);
    if (parsed.success) result.valid.push(parsed.data);
    else refuse(line, fieldErrors(parsed.error.issues));
  }
  return result;
}

/** An object with a purchase's key fields (the envelope is optional, so it cannot tell). */
function looksLikePurchase(json: unknown): boolean {
  return typeof json === "object" && json !== null && "id" in json && "productovisto" in json;
}

/**
 * The `/purchases` routes.
 *
 * @param deps Admission, topic, limits.
 */
export function createPurchaseRoutes(deps: PurchaseRoutesDeps): Hono {
  const { admission } = deps;
  const app = new Hono();
  app.post(
    "/",
    // A shop's backend (service) or staff; then refused before the body is read when nothing
    // could be admitted anyway.
    deps.service,
    admission.guard(),
    limitBody(deps.maxBodyBytes, "purchases"),
    async function postPurchases(c) {
      const { text, ndjson, items } = await readBatch(c.req, deps.maxBatchLines);
      const reservation = admission.reserve(items);
      try {
        const { valid, invalid, rejected } = await validatePurchases(text, ndjson);
        const errorsOmitted = rejected - invalid.length;
        if (valid.length === 0) throw noneValid(invalid, rejected, errorsOmitted);
        // Every event of one request belongs to that request's trace.
        await publishPurchases(reservation, deps.topic, valid, traceparentOf(c.get("hop")));
        return c.json(
          { accepted: valid.length, rejected, errors: invalid, errorsOmitted },
          rejected === 0 ? 202 : 207,
        );
      } finally {
        reservation.release();
      }
    },
  );
  return app;
}

/**
 * A batch's body, read once its content type is one of ours, and its number of items, refused
 * when there are none or more than `maxBatchLines`.
 */
async function readBatch(
  req: { header(name: string): string | undefined; text(): Promise<string> },
  maxBatchLines: number,
): Promise<{ text: string; ndjson: boolean; items: number }> {
  const type = req.header("content-type") ?? "";
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
  const text = await req.text();
  const items = countItems(text, ndjson, maxBatchLines);
  if (items > maxBatchLines) {
    throw new HttpProblem(
      413,
      "Batch too large",
      `Cannot accept purchases: batch has more than ${maxBatchLines} items (non-blank lines)`,
      {
        errors: [{ field: "(body)", message: `must hold at most ${maxBatchLines} items` }],
      },
    );
  }
  if (items === 0) {
    throw new HttpProblem(
      422,
      "Invalid purchases",
      "Cannot accept purchases: body holds no items",
      {
        errors: [{ field: "(body)", message: "holds no items" }],
      },
    );
  }
  return { text, ndjson, items };
}

/** The 422 of a batch without one valid item, listing the errors of the first lines. */
function noneValid(invalid: LineError[], rejected: number, errorsOmitted: number): HttpProblem {
  return new HttpProblem(
    422,
    "Invalid purchases",
    `Cannot accept purchases: none of ${rejected} items is valid${
      errorsOmitted > 0 ? `; the errors of the first ${invalid.length} are listed` : ""
    }`,
    {
      errors: invalid.flatMap((l) =>
        l.errors.map((e) => ({ field: `line ${l.line}: ${e.field}`, message: e.message }))
      ),
      errorsOmitted,
    },
  );
}

/**
 * Publishes the valid events, {@linkcode PUBLISH_GROUP} in flight at once; a failure after some
 * were published says how many.
 */
async function publishPurchases(
  reservation: Reservation,
  topic: string,
  valid: readonly Purchase[],
  traceparent: string,
): Promise<void> {
  const headers = { [TRACEPARENT]: traceparent };
  let published = 0;
  try {
    for (let i = 0; i < valid.length; i += PUBLISH_GROUP) {
      const group = valid.slice(i, i + PUBLISH_GROUP);
      await Promise.all(
        group.map((p) =>
          reservation.publish({
            topic,
            key: p.id,
            // Despacho's own envelope; no `ts` added: an event without one takes the
            // record's timestamp, which the producer sets as it publishes.
            value: JSON.stringify({ v: 1, type: "Purchase", ...p }),
            headers,
          })
        ),
      );
      published += group.length;
    }
  } catch (error) {
    if (published === 0 || !(error instanceof DespachoError)) throw error;
    throw new DespachoError(
      error.code,
      `Cannot accept purchases: ${published} of ${valid.length} valid items were published before: ${error.message}`,
      { retriable: error.retriable, cause: error },
    );
  }
}
