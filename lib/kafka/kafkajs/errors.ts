/** Which kafkajs errors mean this instance must stop. */
import type { ErrorKind } from "../interfaces.ts";

/** kafkajs error types after which an instance must not go on: another took its identity. */
const FATAL_TYPES = new Set([
  "INVALID_PRODUCER_EPOCH",
  "PRODUCER_FENCED",
  "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
]);

/**
 * Whether a kafkajs error means this instance was fenced (its cause chain is searched).
 *
 * @param error Anything kafkajs threw.
 * @returns `fatal` when another instance took this one's identity, else `retriable`.
 */
export function classify(error: unknown): ErrorKind {
  for (let e = error, depth = 0; e !== null && typeof e === "object" && depth < 5; depth++) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === "string" && FATAL_TYPES.has(type)) return "fatal";
    e = (e as { originalError?: unknown; cause?: unknown }).originalError ??
      (e as { cause?: unknown }).cause;
  }
  return "retriable";
}
