/**
 * The partition a keyed record goes to, as both client libraries choose it (and the Java client):
 * murmur2 of the key's UTF-8 bytes, made positive, modulo the topic's partition count. The gateway
 * uses it to keep one send in flight per partition without asking the client library.
 */

const encoder = new TextEncoder();
/** Reused for each key's bytes: no allocation per record on the gateway's hot path. */
let scratch = new Uint8Array(256);

/**
 * Kafka's murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`), as a signed 32-bit number.
 *
 * @param data The bytes to hash.
 * @param length How many of them, from the first. @default data.length
 * @returns The hash.
 */
export function murmur2(data: Uint8Array, length: number = data.length): number {
  const m = 0x5bd1e995;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  let i = 0;
  for (; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = length & 3;
  if (rest > 0) {
    if (rest === 3) h ^= data[i + 2]! << 16;
    if (rest >= 2) h ^= data[i + 1]! << 8;
    h = Math.imul(h ^ data[i]!, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * The partition of a record keyed `key` on a topic of `partitions` partitions.
 *
 * @param key The record's key.
 * @param partitions The topic's partition count.
 * @returns A partition number, 0 to `partitions - 1`.
 * @throws {RangeError} When `partitions` is not a whole number >= 1.
 *
 * @example
 * ```ts
 * import { partitionOf } from "./partition.ts";
 * partitionOf("order-1", 8); // the same partition the producers write it to
 * ```
 */
export function partitionOf(key: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new RangeError(
      `Cannot choose a partition: the partition count must be a whole number >= 1: current value is ${partitions}`,
    );
  }
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  if (key.length * 3 > scratch.length) scratch = new Uint8Array(key.length * 3);
  const { written } = encoder.encodeInto(key, scratch);
  return (murmur2(scratch, written) & 0x7fffffff) % partitions;
}
