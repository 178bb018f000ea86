/**
 * What the gateway's live streams (Server-Sent Events) share: a subscription whose pushed items
 * are taken one at a time while the client stays, with a keep-alive comment while nothing comes,
 * so that proxies do not close an idle connection.
 */
import { abortableSleep } from "../lib/wait.ts";

/** What {@linkcode pushedItems} needs of Hono's `SSEStreamingApi`. */
export interface LiveStream {
  /** Called once the client has gone. */
  onAbort(listener: () => void): void;
  write(text: string): Promise<unknown>;
}

/** Where pushed items wait until the stream takes them: an array (first in, first out) by default. */
export interface PushQueue<T> {
  push(item: T): unknown;
  /** The next item, or undefined when there is none. */
  shift(): T | undefined;
}

/** Options of {@linkcode pushedItems}. */
export interface PushedOptions<T> {
  /** Milliseconds without an item after which a keep-alive comment is written. @default 15000 */
  keepAliveMs?: number;
  /** Where items wait. @default an array */
  queue?: PushQueue<T>;
  /** @default an abortable setTimeout */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** The items of a subscription, as an async iterator that can also be closed before it starts. */
export interface PushedItems<T> extends AsyncIterableIterator<T> {
  /** Unsubscribes and ends the iteration (also done when a `for await` loop is left). */
  close(): void;
}

/**
 * Subscribes at once, so that nothing pushed from now on is missed while the caller first sends
 * what happened before, and yields each pushed item while the client stays connected. While idle
 * it writes `: keep-alive` every `keepAliveMs`. The iteration ends when the client goes.
 *
 * @param stream The SSE stream.
 * @param subscribe Starts the subscription with the function that pushes an item; returns the
 * unsubscribe.
 * @param options Keep-alive period, queue, clock.
 * @returns The items, in the queue's order.
 *
 * @example
 * ```ts ignore
 * return streamSSE(c, async (stream) => {
 *   for await (const w of pushedItems(stream, (push) => view.subscribe(push))) {
 *     await stream.writeSSE({ event: "window", data: JSON.stringify(w) });
 *   }
 * });
 * ```
 */
export function pushedItems<T>(
  stream: LiveStream,
  subscribe: (push: (item: T) => void) => () => void,
  options: PushedOptions<T> = {},
): PushedItems<T> {
  const queue: PushQueue<T> = options.queue ?? [];
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  const sleep = options.sleep ?? abortableSleep;
  let open = true;
  let wake = () => {};
  const unsubscribe = subscribe((item) => {
    queue.push(item);
    wake();
  });
  const close = () => {
    if (open) unsubscribe();
    open = false;
    wake();
  };
  stream.onAbort(close);
  async function* items(): AsyncGenerator<T> {
    try {
      while (open) {
        const item = queue.shift();
        if (item !== undefined) {
          yield item;
          continue;
        }
        const idle = new AbortController();
        const woken = new Promise<false>((resolve) => (wake = () => resolve(false)));
        const quiet = sleep(keepAliveMs, idle.signal).then(() => true, () => false);
        const keepAlive = await Promise.race([woken, quiet]);
        idle.abort();
        if (keepAlive && open) await stream.write(": keep-alive\n\n");
      }
    } finally {
      close();
    }
  }
  return Object.assign(items(), { close });
}

/**
 * A queue of keys in which a key pushed again moves to the end, bounded to the latest `limit`
 * keys: a slow client gets the latest of what changed, never a backlog.
 */
export class LatestKeys<K> implements PushQueue<K> {
  #keys = new Set<K>();
  #limit: number;

  /**
   * @param limit Keys kept at most.
   * @throws {RangeError} When `limit` is not a whole number of at least 1.
   */
  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(
        `Cannot keep the latest keys: limit must be a whole number >= 1: current value is ${limit}`,
      );
    }
    this.#limit = limit;
  }

  /** Adds `key` at the end (moving it there when it is queued already), dropping the oldest. */
  push(key: K): void {
    this.#keys.delete(key);
    this.#keys.add(key);
    if (this.#keys.size > this.#limit) this.#keys.delete(this.#keys.values().next().value!);
  }

  /** Takes the oldest key. */
  shift(): K | undefined {
    const first = this.#keys.values().next();
    if (first.done) return undefined;
    this.#keys.delete(first.value);
    return first.value;
  }
}
