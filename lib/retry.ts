/**
 * Capped exponential backoff with full jitter, and a retry loop that honours an abort signal and
 * rethrows at once what is not retriable.
 */

/** Options of {@linkcode backoffDelay} and {@linkcode retry}. */
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

/** Options of {@linkcode retry}. */
export interface RetryOptions extends BackoffOptions {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Whether an error may succeed on another attempt. @default every error */
  isRetriable?: (error: unknown) => boolean;
  signal?: AbortSignal;
  /** Called before each wait. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** @default setTimeout-based, abortable */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** @default Math.random */
  random?: () => number;
}

/**
 * Runs `fn` until it succeeds, an error is not retriable, the attempts run out or `signal` aborts.
 *
 * @param fn The operation; receives the 1-based attempt number.
 * @param options Attempts, backoff, retriability, signal.
 * @returns What `fn` returned, with the number of attempts it took.
 * @throws The last error (or the abort reason) when it gives up.
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<{ value: T; attempts: number }> {
  const sleep = options.sleep ?? abortableSleep;
  const random = options.random ?? Math.random;
  for (let attempt = 1;; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return { value: await fn(attempt), attempts: attempt };
    } catch (error) {
      const retriable = options.isRetriable?.(error) ?? true;
      if (!retriable || attempt >= options.maxAttempts) throw error;
      const delay = backoffDelay(attempt, random(), options);
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}

/**
 * Resolves after `ms`, or rejects with the signal's reason when it aborts first.
 *
 * @param ms Milliseconds.
 * @param signal Ends the wait early.
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
