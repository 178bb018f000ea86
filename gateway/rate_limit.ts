/**
 * Per-client limits, so that one client cannot take the capacity others need: a token bucket per
 * client address on `POST /orders`, and a cap on the event streams one address holds open
 * (`GET /orders/{id}/events`, `GET /orders?watch=true`, `GET /analytics/purchases/events`). Both
 * answer `429` problem+json with `Retry-After`.
 *
 * The client address is the connection's peer as the HTTP server gives it to the app (`remoteAddr`
 * in the app's env: `Deno.serve` passes it, and so does `gateway/http1.ts`); `X-Forwarded-For` is
 * read only on a connection from a configured trusted proxy. An IPv6 client counts by its /64, the
 * block one subscriber usually gets, so walking through one's own addresses does not multiply the
 * limit.
 *
 * Memory is bounded: a bucket that has filled up again is forgotten (a new one is the same), the
 * least recently used ones go first when more than `maxClients` are tracked, and a stream count
 * lives only while a stream is open.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { Config } from "../lib/config.ts";
import { HttpProblem } from "./problem.ts";

/** Options of {@linkcode TokenBuckets}. */
export interface TokenBucketOptions {
  /** Tokens added a second; `0` means unlimited (nothing is tracked). */
  ratePerS: number;
  /** Most tokens a bucket holds: the burst a client may send at once. */
  burst: number;
  /** Most clients tracked at once; the least recently seen is forgotten beyond. @default 10000 */
  maxClients?: number;
  /** The clock, in milliseconds. @default performance.now */
  now?: () => number;
}

/** What {@linkcode TokenBuckets.take} decided. */
export type TakeResult = { allowed: true } | { allowed: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  /** When `tokens` was computed. */
  at: number;
}

/**
 * One token bucket per client key, in bounded memory.
 *
 * @example
 * ```ts
 * import { TokenBuckets } from "./rate_limit.ts";
 * let now = 0;
 * const buckets = new TokenBuckets({ ratePerS: 1, burst: 2, now: () => now });
 * buckets.take("a").allowed; // true
 * buckets.take("a").allowed; // true
 * buckets.take("a"); // { allowed: false, retryAfterMs: 1000 }
 * now = 1000;
 * buckets.take("a").allowed; // true
 * ```
 */
export class TokenBuckets {
  readonly ratePerS: number;
  readonly burst: number;
  #maxClients: number;
  #now: () => number;
  /** In least recently used order: a take moves its bucket to the end. */
  #buckets = new Map<string, Bucket>();

  /**
   * @param options Rate, burst, memory bound, clock.
   * @throws {RangeError} A negative rate, a burst under 1, or a bound under 1.
   */
  constructor(options: TokenBucketOptions) {
    if (!(options.ratePerS >= 0) || !Number.isFinite(options.ratePerS)) {
      throw new RangeError(
        `Cannot create token buckets: rate must be 0 or more: current value is ${options.ratePerS}`,
      );
    }
    if (!(options.burst >= 1)) {
      throw new RangeError(
        `Cannot create token buckets: burst must be 1 or more: current value is ${options.burst}`,
      );
    }
    const maxClients = options.maxClients ?? 10_000;
    if (!(maxClients >= 1)) {
      throw new RangeError(
        `Cannot create token buckets: maxClients must be 1 or more: current value is ${maxClients}`,
      );
    }
    this.ratePerS = options.ratePerS;
    this.burst = options.burst;
    this.#maxClients = maxClients;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Clients tracked now. */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes one token from `key`'s bucket.
   *
   * @param key The client (its address).
   * @returns Allowed, or refused with the wait until a token is there.
   */
  take(key: string): TakeResult {
    if (this.ratePerS === 0) return { allowed: true };
    const now = this.#now();
    this.#forgetIdle(now);
    const bucket = this.#buckets.get(key);
    const tokens = bucket === undefined ? this.burst : this.#tokensAt(bucket, now);
    this.#buckets.delete(key);
    if (tokens >= 1) {
      this.#buckets.set(key, { tokens: tokens - 1, at: now });
      // The least recently used goes first: a client that keeps sending stays tracked.
      if (this.#buckets.size > this.#maxClients) {
        this.#buckets.delete(this.#buckets.keys().next().value!);
      }
      return { allowed: true };
    }
    this.#buckets.set(key, { tokens, at: now });
    return { allowed: false, retryAfterMs: ((1 - tokens) / this.ratePerS) * 1000 };
  }

  #tokensAt(bucket: Bucket, now: number): number {
    return Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.ratePerS);
  }

  /**
   * Forgets the least recently used buckets that are full again: a fresh bucket is the same. A
   * couple per call keeps the cost constant and is more than arrive, so idle ones never pile up.
   */
  #forgetIdle(now: number): void {
    for (let i = 0; i < 2; i++) {
      const oldest = this.#buckets.entries().next().value;
      if (oldest === undefined || this.#tokensAt(oldest[1], now) < this.burst) return;
      this.#buckets.delete(oldest[0]);
    }
  }
}

/**
 * Open streams per client key, at most `perClient` each.
 *
 * @example
 * ```ts
 * import { StreamSlots } from "./rate_limit.ts";
 * const slots = new StreamSlots(1);
 * const release = slots.open("a");
 * slots.open("a"); // null
 * release?.();
 * slots.open("a") !== null; // true
 * ```
 */
export class StreamSlots {
  readonly perClient: number;
  #open = new Map<string, number>();

  /** @param perClient Streams per client; `0` means unlimited. */
  constructor(perClient: number) {
    this.perClient = perClient;
  }

  /** Streams `key` holds open now. */
  count(key: string): number {
    return this.#open.get(key) ?? 0;
  }

  /**
   * Takes a slot for one stream of `key`.
   *
   * @returns Its release (safe to call more than once), or null when `key` holds all its slots.
   */
  open(key: string): (() => void) | null {
    if (this.perClient === 0) return () => {};
    const n = this.count(key);
    if (n >= this.perClient) return null;
    this.#open.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.count(key) - 1;
      if (left > 0) this.#open.set(key, left);
      else this.#open.delete(key);
    };
  }
}

/** Seconds a client refused a stream is told to wait: a stream's end cannot be foreseen. */
export const STREAM_RETRY_AFTER_S = 5;

/** The configuration {@linkcode clientLimits} reads. */
export type LimitsConfig = Pick<
  Config,
  "ORDER_RATE_PER_S" | "ORDER_BURST" | "STREAMS_PER_CLIENT" | "TRUSTED_PROXY"
>;

/** A middleware and the route it guards, as `app.on(method, path, middleware)` takes them. */
export type LimitedRoute = readonly [method: "GET" | "POST", path: string, MiddlewareHandler];

/**
 * The limited routes with their middleware, sharing one set of buckets and stream slots. Register
 * them (`app.on(...)`) before the routes themselves, so the router matches them exactly as it
 * matches the routes.
 *
 * @param config Rates, burst, stream cap, trusted proxies.
 * @param now The clock of the buckets. @default performance.now
 * @returns The routes and their middleware.
 */
export function clientLimits(config: LimitsConfig, now?: () => number): LimitedRoute[] {
  const buckets = new TokenBuckets({
    ratePerS: config.ORDER_RATE_PER_S,
    burst: config.ORDER_BURST,
    ...(now === undefined ? {} : { now }),
  });
  const slots = new StreamSlots(config.STREAMS_PER_CLIENT);
  const trusted = trustedProxies(config.TRUSTED_PROXY ?? []);
  const streams = limitStreams(slots, trusted);
  return [
    ["POST", "/orders", limitOrders(buckets, trusted)],
    ["GET", "/orders/:id/events", streams],
    // The list is a stream only with watch=true (the only value its schema takes for one).
    ["GET", "/orders", limitStreams(slots, trusted, (c) => c.req.query("watch") === "true")],
    ["GET", "/analytics/purchases/events", streams],
  ];
}

/**
 * Refuses a `POST /orders` over the client's rate with 429 and `Retry-After` (whole seconds).
 *
 * @param buckets The buckets, one per client.
 * @param trusted Whether a peer is a trusted proxy.
 */
export function limitOrders(
  buckets: TokenBuckets,
  trusted: (peer: string) => boolean,
): MiddlewareHandler {
  return async function limitOrderRate(c, next) {
    const taken = buckets.take(clientAddress(c, trusted));
    if (!taken.allowed) {
      const seconds = Math.max(1, Math.ceil(taken.retryAfterMs / 1000));
      throw new HttpProblem(
        429,
        "Rate limit exceeded",
        `Cannot accept order: more than ${buckets.ratePerS} orders a second (bursts of ${buckets.burst}) from this client address; retry in ${seconds} s`,
        { headers: { "Retry-After": String(seconds) } },
      );
    }
    await next();
  };
}

/**
 * Refuses an event stream beyond the client's open streams with 429; the slot is held until the
 * stream ends, fails or is cancelled (the client went away), and given back at once when the
 * answer is not a stream (a 404).
 *
 * @param slots The open streams per client.
 * @param trusted Whether a peer is a trusted proxy.
 * @param applies Whether this request opens a stream. @default always
 */
export function limitStreams(
  slots: StreamSlots,
  trusted: (peer: string) => boolean,
  applies: (c: Context) => boolean = () => true,
): MiddlewareHandler {
  return async function limitOpenStreams(c, next) {
    if (!applies(c)) return await next();
    const release = slots.open(clientAddress(c, trusted));
    if (release === null) {
      throw new HttpProblem(
        429,
        "Too many open streams",
        `Cannot open event stream: ${slots.perClient} streams already open from this client address; close one first`,
        { headers: { "Retry-After": String(STREAM_RETRY_AFTER_S) } },
      );
    }
    try {
      await next();
    } catch (error) {
      release();
      throw error;
    }
    const body = c.res.body;
    if (body === null || !c.res.headers.get("content-type")?.startsWith("text/event-stream")) {
      release();
      return;
    }
    c.res = new Response(releasedAtEnd(body, release), c.res);
  };
}

/** `body` as it is, calling `release` once it ends, fails or is cancelled. */
function releasedAtEnd(
  body: ReadableStream<Uint8Array>,
  release: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (error) {
        release();
        controller.error(error);
      }
    },
    cancel(reason) {
      release();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * The client's address as the limits count it: the connection's peer (from the server's
 * `remoteAddr`), or, on a connection from a trusted proxy, the rightmost `X-Forwarded-For` entry
 * that is not one; an IPv6 address reduced to its /64.
 *
 * @param c The request's context.
 * @param trusted Whether a peer is a trusted proxy.
 * @returns The key of the client's bucket and stream count.
 */
export function clientAddress(c: Context, trusted: (peer: string) => boolean): string {
  const env = c.env as { remoteAddr?: { hostname?: unknown } } | undefined;
  const peer = typeof env?.remoteAddr?.hostname === "string" ? env.remoteAddr.hostname : "unknown";
  let client = unmapped(peer);
  if (trusted(client)) {
    const hops = (c.req.header("x-forwarded-for") ?? "").split(",").map((h) => unmapped(h.trim()))
      .filter((h) => h !== "");
    // Each proxy appends the peer it saw: entries left of the first untrusted one are the client's
    // to write, so they are never believed.
    for (let i = hops.length - 1; i >= 0; i--) {
      client = hops[i]!;
      if (!trusted(client)) break;
    }
  }
  return ipv6Block(client).slice(0, 64);
}

/** `::ffff:1.2.3.4` → `1.2.3.4`; `[::1]` → `::1`. */
function unmapped(address: string): string {
  const bare = address.replace(/^\[|\]$/g, "").toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  return mapped === null ? bare : mapped[1]!;
}

/** An IPv6 address's first four groups (its /64); anything else as it is. */
function ipv6Block(address: string): string {
  if (!address.includes(":")) return address;
  const [head = "", tail] = address.split("::", 2) as [string, string | undefined];
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined
    ? left
    : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups.slice(0, 4).map((g) => (g.replace(/^0+(?=.)/, "") || "0")).join(":")}::/64`;
}

/**
 * Whether a peer is one of the trusted proxies: exact addresses (IPv4 or IPv6) and IPv4 blocks.
 *
 * @param entries `TRUSTED_PROXY`'s items (`10.0.0.0/8`, `::1`, `192.168.1.4`).
 * @returns The test.
 */
export function trustedProxies(entries: readonly string[]): (peer: string) => boolean {
  if (entries.length === 0) return () => false;
  const exact = new Set<string>();
  const blocks: [base: number, mask: number][] = [];
  for (const entry of entries) {
    const [address = "", bits] = entry.split("/");
    const v4 = ipv4(address);
    if (v4 !== undefined && bits !== undefined) {
      const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
      blocks.push([(v4 & mask) >>> 0, mask]);
    } else {
      exact.add(unmapped(address));
    }
  }
  return function isTrustedProxy(peer) {
    const address = unmapped(peer);
    if (exact.has(address)) return true;
    const v4 = ipv4(address);
    return v4 !== undefined && blocks.some(([base, mask]) => ((v4 & mask) >>> 0) === base);
  };
}

function ipv4(address: string): number | undefined {
  const parts = address.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    return undefined;
  }
  return parts.reduce((n, p) => ((n << 8) | Number(p)) >>> 0, 0);
}
