/**
 * Turning a Kafka record's bytes into a typed event, or into the reason it is not one.
 */
import type { KafkaMessage } from "kafkajs";
import type { z } from "zod";

/** A parsed value, or the one-sentence reason it could not be parsed. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Parses a record value as JSON, then through `schema`.
 *
 * @param bytes The record value (`null` for a tombstone).
 * @param schema The wire schema expected on this topic.
 * @returns The typed value, or why it is not one.
 */
export function parseRecord<T>(bytes: Uint8Array | Buffer | null, schema: z.ZodType<T>): Parsed<T> {
  if (bytes === null) return { ok: false, reason: "Cannot parse record: value is null" };
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    return { ok: false, reason: `Cannot parse record: invalid JSON: ${(error as Error).message}` };
  }
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, value: result.data };
  const issues = result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
  return { ok: false, reason: `Cannot parse record: schema mismatch: ${issues.join("; ")}` };
}

/**
 * Where a record came from, as `deadLetterRecord` wants it.
 *
 * @param batch The batch's topic and partition.
 * @param message The record.
 */
export function recordSource(batch: { topic: string; partition: number }, message: KafkaMessage) {
  return {
    topic: batch.topic,
    partition: batch.partition,
    offset: message.offset,
    key: message.key ?? null,
    value: message.value ?? null,
  };
}
