/**
 * Records as Despacho sees them, whatever Kafka client carries them: what a role publishes
 * ({@linkcode OutRecord}), what it reads ({@linkcode InRecord}, in per-partition
 * {@linkcode InBatch}es), how a value becomes a typed event ({@linkcode parseRecord}), the
 * dead letter of a record that cannot be parsed, and the mark of a dead letter replayed.
 */
import { z } from "zod";
import { acceptorOf } from "../accept.ts";

/** A record to publish: topic, key and a UTF-8 value, with optional string headers. */
export interface OutRecord {
  topic: string;
  key: string;
  value: string;
  headers?: Record<string, string>;
  /**
   * The partition to write to, chosen by the caller (the gateway's publisher, from the count it
   * read: `gateway/partition_lanes.ts`). The idempotent producers of both adapters, and kafkajs's
   * transactional one, read metadata again when theirs does not list it yet, and fail the send if
   * it still does not; platformatic's transactional producer does not check (no role sets it
   * there).
   *
   * @default the client's partitioner's choice: murmur2 of the key modulo the count it knows
   */
  partition?: number;
}

/** A record with no value (a tombstone): on a compacted topic it erases its key. */
export interface Tombstone {
  topic: string;
  key: string;
  value: null;
  headers?: Record<string, string>;
}

/** What a producer sends: a record with a value, or a tombstone. */
export type Outgoing = OutRecord | Tombstone;

/** A record read from Kafka. */
export interface InRecord {
  topic: string;
  partition: number;
  /** The record's offset, as a decimal string (offsets are 64-bit). */
  offset: string;
  key: string | null;
  /** The value's bytes, or null for a tombstone. */
  value: Uint8Array | null;
  /** Header values as text (the last one of a repeated header). */
  headers: Record<string, string>;
  /** The record's timestamp, ms since the epoch. */
  timestamp: number;
}

/** Records of one partition, in offset order, as one fetch delivered them. */
export interface InBatch {
  topic: string;
  partition: number;
  records: readonly InRecord[];
}

/** The offset of the last record of a non-empty batch. */
export function lastOffset(batch: InBatch): string {
  const last = batch.records.at(-1);
  if (last === undefined) {
    throw new RangeError(
      `Cannot take the last offset of ${batch.topic}/${batch.partition}: the batch is empty`,
    );
  }
  return last.offset;
}

/**
 * Bytes of record values per produce request at most: under the broker's default 1 MiB batch limit.
 * A larger request would be refused as too large, and a transaction that always fails would stall
 * its role.
 */
export const MAX_REQUEST_BYTES = 512 * 1024;

/**
 * Splits records into requests of at most `maxBytes` (keys and values, plus a per-record overhead),
 * keeping their order.
 *
 * @param records What to send.
 * @param maxBytes Bytes per request at most. @default {@linkcode MAX_REQUEST_BYTES}
 * @returns The requests, none empty.
 */
export function chunkRecords<T extends Outgoing>(
  records: readonly T[],
  maxBytes: number = MAX_REQUEST_BYTES,
): T[][] {
  const chunks: T[][] = [];
  let chunk: T[] = [];
  let bytes = 0;
  for (const r of records) {
    const size = (r.value?.length ?? 0) + r.key.length + 64;
    if (chunk.length > 0 && bytes + size > maxBytes) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(r);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/**
 * Topic `despacho_dead_letter`: a record a role set aside (not JSON, not its schema, or a duplicate
 * request), where it came from and why, keyed `{topic}/{partition}/{offset}` of its source.
 */
export const DeadLetterSchema = z.object({
  v: z.literal(1),
  type: z.literal("DeadLetter"),
  source: z.object({ topic: z.string(), partition: z.int(), offset: z.string() }),
  key: z.string().nullable(),
  /** The original value as text (lossy for non-UTF-8 bytes), so a person can read it. */
  value: z.string().nullable(),
  reason: z.string(),
  at: z.iso.datetime(),
});

/** Where a set-aside record came from, and why it was set aside. */
export type DeadLetter = z.infer<typeof DeadLetterSchema>;

/**
 * Builds the dead-letter record for an input that could not be parsed. Keyed by its source
 * position, so a redelivered copy lands beside the first; it carries the source's `traceparent`,
 * so it belongs to the trace of the record it sets aside.
 *
 * @param topic The dead-letter topic.
 * @param source The bad record.
 * @param reason Why it was refused, one sentence.
 * @param now The clock.
 * @returns The record to publish in the same transaction as the input's offset.
 */
export function deadLetterRecord(
  topic: string,
  source:
    & Pick<InRecord, "topic" | "partition" | "offset" | "key" | "value">
    & { headers?: Readonly<Record<string, string>> },
  reason: string,
  now: Date = new Date(),
): OutRecord {
  const letter: DeadLetter = {
    v: 1,
    type: "DeadLetter",
    source: { topic: source.topic, partition: source.partition, offset: source.offset },
    key: source.key,
    value: source.value === null ? null : UTF8.decode(source.value),
    reason,
    at: now.toISOString(),
  };
  const traceparent = source.headers?.traceparent;
  return {
    topic,
    key: `${source.topic}/${source.partition}/${source.offset}`,
    value: JSON.stringify(letter),
    ...(traceparent === undefined ? {} : { headers: { traceparent } }),
  };
}

/**
 * On the dead-letter topic beside a {@linkcode DeadLetter}, keyed like it: the letter's record was
 * written back to its source topic (`deno task dead-letters replay`), with its own value or one
 * given in its place. A letter with such a record is not replayed again unless asked.
 */
export const DeadLetterReplayedSchema = z.object({
  v: z.literal(1),
  type: z.literal("DeadLetterReplayed"),
  source: z.object({ topic: z.string(), partition: z.int(), offset: z.string() }),
  /** `original`: the letter's value; `replaced`: a value the operator gave. */
  value: z.enum(["original", "replaced"]),
  at: z.iso.datetime(),
});

/** That a dead letter was written back to its source topic, and when. */
export type DeadLetterReplayed = z.infer<typeof DeadLetterReplayedSchema>;

/** The header a replayed record carries: the `{topic}/{partition}/{offset}` it was set aside from. */
export const REPLAY_OF = "despacho-replay-of";

/**
 * Builds the record that says a dead letter was replayed.
 *
 * @param topic The dead-letter topic.
 * @param source The position the letter was set aside from.
 * @param value Whether the letter's own value was written back.
 * @param now The clock.
 * @returns The record, keyed like the letter (same partition, after it).
 */
export function deadLetterReplayedRecord(
  topic: string,
  source: DeadLetter["source"],
  value: DeadLetterReplayed["value"],
  now: Date = new Date(),
): OutRecord {
  const replayed: DeadLetterReplayed = {
    v: 1,
    type: "DeadLetterReplayed",
    source,
    value,
    at: now.toISOString(),
  };
  return {
    topic,
    key: `${source.topic}/${source.partition}/${source.offset}`,
    value: JSON.stringify(replayed),
  };
}

/**
 * A JSON parse error's message without the excerpt of the input that V8 quotes in some of them
 * (`Unexpected token 'o', "nope ana@x.cl" is not valid JSON`): a record's text may hold personal
 * data, and the reason goes to logs and to whoever lists dead letters.
 *
 * @param message `JSON.parse`'s error message (or a dead letter's reason).
 * @returns The message with any quoted excerpt replaced by `the value`.
 *
 * @example
 * ```ts
 * import { withoutExcerpt } from "./records.ts";
 * withoutExcerpt(`Unexpected token 'o', "nope ana@x.cl" is not valid JSON`);
 * // "Unexpected token 'o', the value is not valid JSON"
 * ```
 */
export function withoutExcerpt(message: string): string {
  return message.replace(
    /, (?:\.\.\.)?"[\s\S]*"(?:\.\.\.)? is not valid JSON$/,
    ", the value is not valid JSON",
  );
}

/** One decoder for every record (not fatal: bytes that are not UTF-8 become U+FFFD). */
const UTF8 = new TextDecoder();

/** A parsed value, or the one-sentence reason it could not be parsed. */
export type Parsed<T> =
  | { ok: true; value: T }
  | { ok: false; reason: string; kind: ParseFailure };

/** Why a record could not be parsed (a metrics label: `despacho_dead_letters_total{reason}`). */
export type ParseFailure = "null_value" | "invalid_json" | "schema_mismatch";

/**
 * Parses a record value as JSON, then through `schema`.
 *
 * @param bytes The record value (`null` for a tombstone).
 * @param schema The wire schema expected on this topic.
 * @returns The typed value, or why it is not one.
 */
export function parseRecord<T>(bytes: Uint8Array | null, schema: z.ZodType<T>): Parsed<T> {
  if (bytes === null) {
    return { ok: false, reason: "Cannot parse record: value is null", kind: "null_value" };
  }
  let json: unknown;
  try {
    json = JSON.parse(UTF8.decode(bytes));
  } catch (error) {
    return {
      ok: false,
      reason: `Cannot parse record: invalid JSON: ${withoutExcerpt((error as Error).message)}`,
      kind: "invalid_json",
    };
  }
  // The common case, a valid record, skips zod's machinery (lib/accept.ts); zod decides the rest.
  if (acceptorOf(schema)?.(json)) return { ok: true, value: json as T };
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, value: result.data };
  const issues = result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
  return {
    ok: false,
    reason: `Cannot parse record: schema mismatch: ${issues.join("; ")}`,
    kind: "schema_mismatch",
  };
}

/**
 * The `id` of a record's JSON value, the rest unchecked: for rebuilding which ids were seen
 * already, where a full {@linkcode parseRecord} would cost more and tell nothing more.
 *
 * @param bytes The record value (`null` for a tombstone).
 * @returns The `id` when the value is a JSON object whose `id` is a string, else null (a record
 * that was dead-lettered).
 *
 * @example
 * ```ts
 * import { parseRecordId } from "./records.ts";
 * parseRecordId(new TextEncoder().encode('{"id":"o1","v":1}')); // "o1"
 * ```
 */
export function parseRecordId(bytes: Uint8Array | null): string | null {
  if (bytes === null) return null;
  let json: unknown;
  try {
    json = JSON.parse(UTF8.decode(bytes));
  } catch {
    return null;
  }
  const id = typeof json === "object" && json !== null ? (json as { id?: unknown }).id : undefined;
  return typeof id === "string" ? id : null;
}
