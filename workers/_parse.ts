/**
 * Turning a Kafka record's bytes into a typed event, or into the reason it is not one.
 */
import type { z } from "zod";
import { deadLetterRecord, type InRecord, type OutRecord } from "../lib/kafka/records.ts";
import type { Logger } from "../lib/log.ts";
import { deadLetters } from "../lib/metrics.ts";

/** Why a record could not be parsed, as the `reason` label of `despacho_dead_letters_total`. */
export type ParseFailure = "null_value" | "invalid_json" | "schema_mismatch";

/** A parsed value, or the one-sentence reason it could not be parsed. */
export type Parsed<T> = { ok: true; value: T } | {
  ok: false;
  reason: string;
  kind: ParseFailure;
};

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
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    return {
      ok: false,
      reason: `Cannot parse record: invalid JSON: ${(error as Error).message}`,
      kind: "invalid_json",
    };
  }
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, value: result.data };
  const issues = result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
  return {
    ok: false,
    reason: `Cannot parse record: schema mismatch: ${issues.join("; ")}`,
    kind: "schema_mismatch",
  };
}

/** A parsed record, or the dead letter that takes its place on the dead-letter topic. */
export type ParsedOrLetter<T> = { ok: true; value: T } | { ok: false; letter: OutRecord };

/**
 * The one parse step of every role: a record that is not JSON or does not match its schema
 * becomes a dead letter (with its source and the reason) to publish in the same transaction as
 * its offset, and the role goes on. It never throws and never drops a record silently. Each dead
 * letter is counted in `despacho_dead_letters_total{topic,reason}` when it is decided (a batch read
 * again after a failed transaction counts again).
 *
 * @param record The record read.
 * @param schema The wire schema of its topic.
 * @param deadLetterTopic Where dead letters go.
 * @param log Says which record was set aside and why.
 * @returns The typed value, or the dead letter.
 */
export function parseOrDeadLetter<T>(
  record: InRecord,
  schema: z.ZodType<T>,
  deadLetterTopic: string,
  log: Logger,
): ParsedOrLetter<T> {
  const parsed = parseRecord(record.value, schema);
  if (parsed.ok) return parsed;
  log.warn("dead-lettering a record", {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    reason: parsed.reason,
  });
  deadLetters.labels(record.topic, parsed.kind).inc();
  return { ok: false, letter: deadLetterRecord(deadLetterTopic, record, parsed.reason) };
}
