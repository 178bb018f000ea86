/**
 * Keeping a long-running part going: retriable is not fatal. A role whose loop fails for a reason
 * that may pass (a broker restarting, a coordinator moving, a request timing out on a slow
 * machine) is started again after a capped, jittered back-off; only a fatal failure (fenced by a
 * newer instance of itself) ends it.
 */
import { roleRestarts } from "./metrics.ts";
import { abortableSleep } from "./wait.ts";

/** Options of {@linkcode backoffDelay}. */
export interface BackoffOptions {
  /** First delay in milliseconds. @default 200 */
  initialMs?: number;
  /** Largest delay in milliseconds. @default 10000 */
  maxMs?: number;
  /** Growth per attempt. @default 2 */
  factor?: number;
}

/**
 * The delay before retry number `attempt` (1 for the first retry): uniform in
 * `[0, min(maxMs, initialMs × factor^(attempt−1))]` ("full jitter").
 *
 * @param attempt 1-based retry number.
 * @param random A number in [0, 1).
 * @param options Initial, maximum and growth.
 * @returns Milliseconds to wait.
 * @throws {RangeError} When `attempt` is not a whole number of at least 1.
 */
export function backoffDelay(
  attempt: number,
  random: number,
  options: BackoffOptions = {},
): number {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(
      `Cannot compute backoff: attempt must be a whole number >= 1: current value is ${attempt}`,
    );
  }
  const { initialMs = 200, maxMs = 10_000, factor = 2 } = options;
  const cap = Math.min(maxMs, initialMs * factor ** (attempt - 1));
  return Math.floor(cap * random);
}

/** Options of {@linkcode supervise}. */
export interface SuperviseOptions extends BackoffOptions {
  /** Whether a failure must end it (`fatal`) or may be retried. */
  classify(error: unknown): "fatal" | "retriable";
  /** Stops supervising: the current run is expected to end by itself on this signal. */
  signal: AbortSignal;
  /**
   * The role supervised: each restart counts in `despacho_role_restarts_total{role}`, so an
   * operator sees a role that keeps failing (unset: not counted).
   */
  role?: string;
  /** Called before each restart. */
  onRestart?: (error: unknown, restart: number, delayMs: number) => void;
  /** A run that lasted this long resets the back-off, in ms. @default 60000 */
  stableMs?: number;
  /** @default an abortable setTimeout */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** @default Math.random */
  random?: () => number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Runs `run` until `signal` aborts, starting it again after each retriable failure (or an end
 * nobody asked for).
 *
 * The back-off defaults to 1 s growing to 30 s, with full jitter, so instances that failed
 * together do not come back together.
 *
 * @param run One run of the supervised part; receives the 1-based run number.
 * @param options Classification, stop signal, back-off.
 * @returns When `signal` aborts and the current run has ended.
 * @throws The first fatal error.
 */
export async function supervise(
  run: (attempt: number) => Promise<void>,
  options: SuperviseOptions,
): Promise<void> {
  const sleep = options.sleep ?? abortableSleep;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const backoff = { initialMs: 1000, maxMs: 30_000, ...options };
  let restarts = 0;
  // Born at 0, so that the first restart is an increase Prometheus sees.
  if (options.role !== undefined) roleRestarts.labels(options.role).inc(0);
  for (let attempt = 1;; attempt++) {
    const started = now();
    let failure: unknown = new Error("Cannot keep running: it ended by itself");
    try {
      await run(attempt);
    } catch (error) {
      failure = error;
    }
    if (options.signal.aborted) return;
    if (options.classify(failure) === "fatal") throw failure;
    if (now() - started >= (options.stableMs ?? 60_000)) restarts = 0;
    restarts++;
    const delay = backoffDelay(restarts, random(), backoff);
    if (options.role !== undefined) roleRestarts.labels(options.role).inc();
    options.onRestart?.(failure, restarts, delay);
    try {
      await sleep(delay, options.signal);
    } catch {
      return; // stopped while waiting
    }
  }
}
