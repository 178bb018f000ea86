/**
 * How a transactional loop ends, the same for every client implementation: `done` rejects with
 * the first fatal error or a failed start, and resolves once `stop()` has finished; `stop()` runs
 * its closing steps once, however often it is called.
 */

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
