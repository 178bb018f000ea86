/**
 * `Idempotency-Key` for `POST /orders`: a retried request with the same key and body gets the
 * same order (the same id, no second record); the same key with another body is refused.
 * Kept in memory per gateway instance, bounded in count and age; the order id is derived from
 * the key, so another instance would give a retry the same id.
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

/**
 * An order id derived from an Idempotency-Key: SHA-256 of the key, shaped as a UUID (version 8,
 * "custom"), so any gateway instance derives the same id.
 *
 * @param key The client's key.
 */
export async function idFromKey(key: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`order:${key}`)),
  );
  const b = digest.slice(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
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
