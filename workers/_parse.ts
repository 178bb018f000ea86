/**
 * Turning a Kafka record's bytes into a typed event, or into the reason it is not one.
 */
import type { z } from "zod";
import {
  deadLetterRecord,
  type InRecord,
  type OutRecord,
  parseRecord,
} from "../lib/kafka/records.ts";
import type { Logger } from "../lib/log.ts";
import { deadLetters } from "../lib/metrics.ts";

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
