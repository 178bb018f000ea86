/**
 * The request body limit every route that reads a body applies: Hono's `bodyLimit`, counting
 * bytes as they arrive (not trusting Content-Length), answering a 413 problem.
 */
import { bodyLimit } from "hono/body-limit";
import { HttpProblem } from "./problem.ts";

/**
 * Middleware refusing bodies over `maxBytes`.
 *
 * @param maxBytes The limit.
 * @param what What the route accepts, for the message ("order", "purchases").
 */
export function limitBody(maxBytes: number, what: string) {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new HttpProblem(
        413,
        "Body too large",
        `Cannot accept ${what}: body exceeds ${maxBytes} bytes`,
      );
    },
  });
}
