/**
 * `Idempotency-Key` for `POST /orders`: a retried request with the same key and body gets the
 * same order (the same id, no second record); the same key with another body is refused.
 * Kept in memory per gateway instance, bounded in count and age; the order id is derived from
 * the key under a secret the instances share ({@linkcode orderIdsFromKeys}), so another instance
 * gives a retry the same id, and nobody without the secret can compute it.
 */
import { z } from "zod";

/**
 * The value of an `Idempotency-Key` header: 1 to 200 visible ASCII characters. `POST /orders`
 * checks the header with it and the OpenAPI document describes it with it.
 */
export const IdempotencyKeySchema = z.string().regex(/^[\x21-\x7e]{1,200}$/);

/** What a key is bound to. */
interface Entry {
  bodyHash: string;
  /** Settles when the first request's write settles; concurrent retries share it. */
  result: Promise<string>;
  at: number;
}

/** Options of {@linkcode IdempotencyStore}. */
export interface IdempotencyOptions {
  /** Keys kept. @default 100000 */
  maxKeys?: number;
  /** How long a key is honoured, in milliseconds. @default 86400000 (24 h) */
  ttlMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/** Keys, the body each was first used with, and the order it produced. */
export class IdempotencyStore {
  #entries = new Map<string, Entry>();
  #max: number;
  #ttl: number;
  #now: () => number;

  /** @param options Bounds and clock. */
  constructor(options: IdempotencyOptions = {}) {
    this.#max = options.maxKeys ?? 100_000;
    this.#ttl = options.ttlMs ?? 86_400_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Runs `create` once per key: a later call with the same key and body returns the first
   * call's result; a failed first call frees the key for a retry.
   *
   * @param key The client's Idempotency-Key.
   * @param bodyHash A digest of the validated body.
   * @param create Publishes the order, resolving with its id.
   * @returns The order id, and whether this call created it.
   * @throws {IdempotencyConflict} When the key was used with another body.
   */
  async run(
    key: string,
    bodyHash: string,
    create: () => Promise<string>,
  ): Promise<{ id: string; created: boolean }> {
    const now = this.#now();
    const found = this.#entries.get(key);
    if (found !== undefined && now - found.at < this.#ttl) {
      if (found.bodyHash !== bodyHash) throw new IdempotencyConflict(key);
      return { id: await found.result, created: false };
    }
    const result = create();
    this.#entries.delete(key);
    this.#entries.set(key, { bodyHash, result, at: now });
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    try {
      return { id: await result, created: true };
    } catch (error) {
      if (this.#entries.get(key)?.result === result) this.#entries.delete(key);
      throw error;
    }
  }
}

/** The Idempotency-Key was already used with a different body. */
export class IdempotencyConflict extends Error {
  /** @param key The reused key. */
  constructor(key: string) {
    super(`Cannot reuse Idempotency-Key "${key}": it was first used with a different body`);
    this.name = "IdempotencyConflict";
  }
}

/** Bytes of an order id: 128 bits, the capability a tracking link carries. */
const ID_BYTES = 16;

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/**
 * A new order id: 128 random bits, base64url (22 characters). Whoever holds it may read that one
 * order, so it must be unguessable and derived from nothing the client sent.
 *
 * @returns The id.
 */
export function randomOrderId(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(ID_BYTES)));
}

/**
 * Derives order ids from Idempotency-Keys under a secret the gateway instances share: HMAC-SHA256
 * of the key, its first 128 bits in base64url. Every instance derives the same id for a key (a
 * retry on another instance gets the same order), and knowing the key alone gives no way to
 * compute the id.
 *
 * @param secret `GATEWAY_SECRET`.
 * @returns The derivation.
 *
 * @example
 * ```ts
 * import { orderIdsFromKeys } from "./idempotency.ts";
 * const idFromKey = orderIdsFromKeys("a secret the instances share, 32+ chars");
 * (await idFromKey("pedido-1")).length; // 22
 * ```
 */
export function orderIdsFromKeys(secret: string): (key: string) => Promise<string> {
  const keyed = crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(`despacho order ids\0${secret}`),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return async function idFromKey(key: string): Promise<string> {
    const mac = await crypto.subtle.sign("HMAC", await keyed, new TextEncoder().encode(key));
    return base64url(new Uint8Array(mac).slice(0, ID_BYTES));
  };
}

/**
 * A digest of a value's JSON, for comparing bodies.
 *
 * @param value A validated body (its keys in schema order).
 */
export async function bodyDigest(value: unknown): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(JSON.stringify(value)),
  );
  return [...new Uint8Array(digest)].map((x) => x.toString(16).padStart(2, "0")).join("");
}
