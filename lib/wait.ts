/**
 * Waiting for something slow to become ready — a broker, a topic's leaders, a group join, a child
 * process — with a progress line while it takes long and one clear sentence when it gives up.
 *
 * Slow is not broken: on a 2-core machine with CPU steal a Kafka JVM has needed minutes to listen.
 * So every start-up wait in Despacho goes through {@linkcode waitFor}: it polls, says what it waits
 * for and for how long so far, and gives up only after a generous, configurable ceiling.
 */

/** The error {@linkcode waitFor} throws when the ceiling passes first. */
export class WaitTimeoutError extends Error {
  /** What was waited for. */
  readonly what: string;
  /** How long it was waited for, in milliseconds. */
  readonly waitedMs: number;

  /**
   * @param what What was waited for ("the broker on 127.0.0.1:9092 to answer").
   * @param waitedMs How long.
   * @param detail The last state seen, or why it was not ready.
   */
  constructor(what: string, waitedMs: number, detail: string) {
    super(
      `Cannot wait for ${what}: not ready after ${Math.round(waitedMs / 1000)} s${
        detail ? `: ${detail}` : ""
      }`,
    );
    this.name = "WaitTimeoutError";
    this.what = what;
    this.waitedMs = waitedMs;
  }
}

/**
 * What one poll found: ready with a value; not yet (with why, for the progress line); or never
 * (`fatal`: what is awaited cannot come any more, e.g. the process exited).
 */
export type Poll<T> =
  | { ready: true; value: T }
  | { ready: false; why?: string; fatal?: undefined }
  | { ready: false; fatal: Error };

/** Options of {@linkcode waitFor}. */
export interface WaitOptions {
  /** Longest wait in all, in milliseconds. */
  timeoutMs: number;
  /** Pause between polls, in milliseconds. @default 250 */
  intervalMs?: number;
  /** A progress line at most this often while waiting, in milliseconds. @default 10000 */
  progressMs?: number;
  /** Receives the progress lines. @default nothing is said */
  say?: (line: string) => void;
  /** Ends the wait early, rejecting with the signal's reason. */
  signal?: AbortSignal;
  /** @default Date.now */
  now?: () => number;
  /** @default an abortable setTimeout */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Polls `poll` until it reports ready, saying what it waits for every `progressMs`.
 *
 * A poll that throws counts as "not ready" with the error's message as the reason, so a probe
 * need not catch the refusals of something that is still starting. A poll that answers `fatal`
 * ends the wait at once with that error.
 *
 * @param what What is awaited, as a phrase: "the broker on 127.0.0.1:9092 to answer".
 * @param poll One look: `{ ready: true, value }` or `{ ready: false, why }`.
 * @param options Ceiling, pace, progress output, abort signal and clock.
 * @returns The value of the first ready poll.
 * @throws {WaitTimeoutError} When `timeoutMs` passes first, with the last reason seen.
 * @throws The `fatal` error of a poll.
 *
 * @example
 * ```ts
 * import { waitFor } from "./wait.ts";
 * let n = 0;
 * const value = await waitFor("the third poll", () =>
 *   Promise.resolve(++n < 3 ? { ready: false } : { ready: true, value: n }), { timeoutMs: 1000, intervalMs: 1 });
 * // value === 3
 * ```
 */
export async function waitFor<T>(
  what: string,
  poll: () => Promise<Poll<T>>,
  options: WaitOptions,
): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? abortableSleep;
  const interval = options.intervalMs ?? 250;
  const every = options.progressMs ?? 10_000;
  const started = now();
  let nextSay = started + every;
  let why = "";
  for (;;) {
    options.signal?.throwIfAborted();
    let found: Poll<T>;
    try {
      found = await poll();
    } catch (error) {
      found = { ready: false, why: error instanceof Error ? error.message : String(error) };
    }
    if (found.ready) return found.value;
    if (found.fatal !== undefined) throw found.fatal;
    why = found.why ?? "";
    const t = now();
    if (t - started >= options.timeoutMs) throw new WaitTimeoutError(what, t - started, why);
    if (t >= nextSay) {
      options.say?.(
        `still waiting for ${what}: ${Math.round((t - started) / 1000)} s so far, giving up after ${
          Math.round(options.timeoutMs / 1000)
        } s${why ? ` (${why})` : ""}`,
      );
      nextSay = t + every;
    }
    await sleep(Math.min(interval, Math.max(0, started + options.timeoutMs - t)), options.signal);
  }
}

/**
 * A {@linkcode waitFor} poll of a promise already under way: ready with its value once it
 * resolves, ended with its error if it rejects, else not ready for `why`.
 *
 * @example
 * ```ts ignore
 * await waitFor("the reader to start", settled(reader.ready, "reading positions"), options);
 * ```
 */
export function settled<T>(promise: Promise<T>, why: string): () => Promise<Poll<T>> {
  let state: Poll<T> = { ready: false, why };
  promise.then(
    (value) => (state = { ready: true, value }),
    (
      error,
    ) => (state = {
      ready: false,
      fatal: error instanceof Error ? error : new Error(String(error)),
    }),
  );
  return () => Promise.resolve(state);
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

/**
 * Sleeps until `until`, or until `signal` aborts.
 *
 * @param until When to wake.
 * @param signal Ends the sleep early (a partition revoked, the role stopping).
 * @returns true at `until` (at once when it is past), false when `signal` aborted first.
 *
 * @example
 * ```ts
 * import { sleepUntil } from "./wait.ts";
 * await sleepUntil(new Date(Date.now() + 10), new AbortController().signal); // true
 * ```
 */
export async function sleepUntil(until: Date, signal: AbortSignal): Promise<boolean> {
  try {
    await abortableSleep(Math.max(0, until.getTime() - Date.now()), signal);
    return true;
  } catch {
    return false;
  }
}
