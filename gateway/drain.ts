/**
 * Graceful stop of the gateway: once draining, every new request gets a 503 problem with
 * `Retry-After` and `Connection: close` (a load balancer sends it elsewhere), while the requests
 * already in flight run to their end, so an order that was accepted is answered and none is lost.
 */
import type { MiddlewareHandler } from "hono";
import { HttpProblem } from "./problem.ts";

/** Counts requests in flight and refuses new ones once draining. */
export class Drain {
  #draining = false;
  #inFlight = 0;
  #idle: (() => void)[] = [];

  /** Whether new requests are refused. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Requests being handled now (a streamed response counts until its handler returned it). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * The middleware to put before every route.
   *
   * @returns A Hono middleware counting requests, or refusing them with 503 while draining.
   */
  middleware(): MiddlewareHandler {
    return async (c, next) => {
      if (this.#draining) {
        throw new HttpProblem(
          503,
          "Shutting down",
          `Cannot ${c.req.method} ${new URL(c.req.url).pathname}: the gateway is shutting down`,
          { headers: { "Retry-After": "2", "Connection": "close" } },
        );
      }
      this.#inFlight++;
      try {
        await next();
      } finally {
        if (--this.#inFlight === 0 && this.#draining) this.#wake();
      }
    };
  }

  /**
   * Starts refusing new requests, waits for those in flight, then for `settle` (the writes still
   * pending), all within `timeoutMs`.
   *
   * @param timeoutMs Longest wait in all.
   * @param settle What else must finish before the gateway stops.
   * @returns Whether everything finished within `timeoutMs`.
   */
  async drain(
    timeoutMs: number,
    settle: () => Promise<void> = () => Promise.resolve(),
  ): Promise<boolean> {
    this.#draining = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finished = (async () => {
      if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
      await settle();
      return true;
    })();
    const done = await Promise.race([
      finished,
      new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), timeoutMs)),
    ]);
    clearTimeout(timer);
    return done;
  }

  #wake(): void {
    for (const wake of this.#idle.splice(0)) wake();
  }
}
