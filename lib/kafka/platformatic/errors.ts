/**
 * Which `@platformatic/kafka` errors mean this instance was fenced, and the one refusal of a
 * transaction's offsets that does not: a stale member's.
 */
import { findErrorBy } from "@platformatic/kafka";
import type { ErrorKind } from "../interfaces.ts";

/** Kafka errors after which an instance must not go on: another took its identity. */
const FATAL = [
  "PRODUCER_FENCED",
  "INVALID_PRODUCER_EPOCH",
  "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
  "FENCED_INSTANCE_ID",
];

/** What a TxnOffsetCommit is refused with when the group has moved on since its records were read. */
const STALE_MEMBER = ["FENCED_INSTANCE_ID", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID"];

/**
 * A transaction's offsets refused because they were read under a generation or member id the
 * group has since replaced: this instance's own past (it was frozen past its session and has
 * rejoined, or is rejoining, with a new member id), or a second process with the same identity
 * that took the membership. As Java's producer does, the transaction is aborted and the producer
 * kept: a second process is told apart by the producer epoch (the transactional id holds the
 * instance id), its InitProducerId having fenced this one, whose abort or next request is then
 * refused with PRODUCER_FENCED, which is fatal. (The library's consumer answers a
 * FENCED_INSTANCE_ID heartbeat by joining again, so the group alone does not end either.)
 */
export class StaleMemberError extends Error {
  constructor(cause: unknown) {
    super("Cannot commit the offsets: the group has moved on since these records were read", {
      cause,
    });
    this.name = "StaleMemberError";
  }
}

/**
 * `error` as a {@linkcode StaleMemberError} when a TxnOffsetCommit was refused as stale, and for
 * nothing else: a refusal that also says the producer was fenced stays what it is.
 */
export function staleMember(error: unknown): unknown {
  if (hasKafkaError(error, ...FATAL.filter((id) => id !== "FENCED_INSTANCE_ID"))) return error;
  return hasKafkaError(error, ...STALE_MEMBER) ? new StaleMemberError(error) : error;
}

/** Whether a platformatic error means this instance was fenced. */
export function classify(error: unknown): ErrorKind {
  if (error instanceof StaleMemberError) return "retriable";
  return hasKafkaError(error, ...FATAL) ? "fatal" : "retriable";
}

/** Whether a library error carries a Kafka error named `apiId` somewhere in its causes. */
export function hasKafkaError(error: unknown, ...apiIds: string[]): boolean {
  if (!(error instanceof Error)) return false;
  return apiIds.some((id) => findErrorBy(error, "apiId", id) !== null);
}
