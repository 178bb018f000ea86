/**
 * How a transactional loop starts and ends, the same for every client implementation: its
 * start-up waits ({@linkcode waitAtStartup}) have one ceiling, say their progress and end when the
 * loop is stopped; `done` rejects with the first fatal error or a failed start, and resolves once
 * `stop()` has finished; `stop()` runs its closing steps once, however often it is called.
 */
import type { Logger } from "../log.ts";
import { type Poll, waitFor } from "../wait.ts";

/** What every start-up wait of one loop shares: see {@linkcode waitAtStartup}. */
export interface StartupWaits {
  /** Longest wait, each (the client's start-up ceiling). */
  timeoutMs: number;
  /** Says a progress line every 10 s while it waits. */
  log: Logger;
  /** Aborted when the loop is stopped: the wait ends at once. */
  signal: AbortSignal;
}

/**
 * Waits at a loop's start-up until `poll` is ready (producer initialised, group joined).
 *
 * @param what What it waits for, as the progress lines and the timeout error say it.
 * @param intervalMs Pause between polls.
 * @param poll One try; a thrown error counts as not ready yet.
 * @param waits The loop's ceiling, logger and stop signal.
 * @returns The ready value.
 * @throws {WaitTimeoutError} When `poll` is not ready within `waits.timeoutMs`.
 * @throws The reason of `waits.signal` when the loop is stopped first.
 *
 * @example
 * ```ts
 * import { waitAtStartup } from "./loop_lifecycle.ts";
 * import { createLogger } from "../log.ts";
 * const waits = { timeoutMs: 1000, log: createLogger("loop"), signal: new AbortController().signal };
 * await waitAtStartup("the group", 10, () => Promise.resolve({ ready: true, value: undefined }), waits);
 * ```
 */
export function waitAtStartup<T>(
  what: string,
  intervalMs: number,
  poll: () => Promise<Poll<T>>,
  waits: StartupWaits,
): Promise<T> {
  return waitFor(what, poll, {
    timeoutMs: waits.timeoutMs,
    intervalMs,
    progressMs: 10_000,
    say: (l) => waits.log.info(l),
    signal: waits.signal,
  });
}

/** The end of a loop: see {@linkcode loopLifecycle}. */
export interface LoopLifecycle {
  /**
   * Ends the loop with `error`: fenced by a newer instance of itself, or a state the loop cannot
   * leave alone (its classification decides whether the role is started again). Later calls do
   * nothing.
   */
  fail(error: unknown): void;
  /** See `TransactionalLoop.done`. */
  readonly done: Promise<void>;
  /** See `TransactionalLoop.stop`. */
  stop(): Promise<void>;
}

/**
 * The end of a loop that starts with `ready` and closes with `close`.
 *
 * @param ready Resolves once the loop consumes; a rejection ends `done` with it.
 * @param close The loop's closing steps (leave the group, drain commits, close the producer).
 * @returns `fail`, `done` and `stop`.
 *
 * @example
 * ```ts
 * import { loopLifecycle } from "./loop_lifecycle.ts";
 * const end = loopLifecycle(Promise.resolve(), async () => {});
 * await end.stop();
 * await end.done; // resolved: stopped
 * ```
 */
export function loopLifecycle(ready: Promise<void>, close: () => Promise<void>): LoopLifecycle {
  let fail: (error: unknown) => void = () => {};
  const fatal = new Promise<never>((_, reject) => (fail = reject));
  fatal.catch(() => {});
  let stopped: () => void = () => {};
  const done = Promise.race([
    fatal,
    ready.then(() => new Promise<void>(() => {}), (error) => Promise.reject(error)),
    // Only once stopped: the group has been left and the producer closed, so a process may exit.
    new Promise<void>((resolve) => (stopped = resolve)),
  ]);
  done.catch(() => {});
  let stopping: Promise<void> | null = null;
  return {
    fail: (error) => fail(error),
    done,
    stop() {
      stopping ??= close().then(() => stopped());
      return stopping;
    },
  };
}
