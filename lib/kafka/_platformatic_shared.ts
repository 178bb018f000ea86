/**
 * What the `@platformatic/kafka` seam's files share: the client options every client object gets,
 * which errors mean an instance was fenced, partition keys, and records as the library's messages.
 */
import type { KafkaSecurity } from "../config.ts";
import type { ErrorKind, TopicPartition } from "./client.ts";
import { hasKafkaError } from "./platformatic_fetch.ts";
import type { Outgoing } from "./records.ts";

/** The options every library client object is created with (TLS and SASL when configured). */
export type Base = {
  clientId: string;
  bootstrapBrokers: string[];
  tls?: NonNullable<KafkaSecurity["tls"]> & { rejectUnauthorized: boolean };
  sasl?: NonNullable<KafkaSecurity["sasl"]>;
};

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

/** A partition's map key: `topic/partition`. */
export const key = (tp: TopicPartition): string => `${tp.topic}/${tp.partition}`;

/** Records as the library's producer takes them. */
export function toMessages(records: readonly Outgoing[]) {
  return records.map((r) => ({
    topic: r.topic,
    key: r.key,
    // A tombstone's null: the library's string serializer writes no value for a non-string.
    value: r.value as string,
    ...(r.headers === undefined ? {} : { headers: r.headers }),
  }));
}

/**
 * The library's client options for `security`: TLS that checks the brokers' certificates, and the
 * SASL login.
 */
export function securityOptions(security: KafkaSecurity): Pick<Base, "tls" | "sasl"> {
  return {
    ...(security.tls ? { tls: { ...security.tls, rejectUnauthorized: true } } : {}),
    ...(security.sasl ? { sasl: { ...security.sasl } } : {}),
  };
}

/** The highest AddPartitionsToTxn version meant for clients: 4 and above are broker-to-broker. */
const CLIENT_ADD_PARTITIONS_TO_TXN = 3;

/**
 * Makes a library producer send AddPartitionsToTxn at most at version 3.
 *
 * The library picks the highest version the broker offers (5), but versions 4 and above are the
 * brokers' own (KIP-890: batched, verify-only); a broker with an authorizer refuses them from a
 * client without CLUSTER_ACTION (`CLUSTER_AUTHORIZATION_FAILED`), a right no role should have.
 * Version 3 takes the same request here. The library has no option for it: its version table (a
 * private field) is capped when it is read.
 *
 * @param producer A library `Producer`.
 * @throws {Error} When the library's internals have changed (a pinned version makes this a test
 * failure, not a surprise in production).
 */
export function clientTransactionApis(producer: object): void {
  const apisKey = symbolOf(producer, "plt.kafka.base.apis");
  const getApiKey = symbolOf(producer, "plt.kafka.base.getApi");
  const target = producer as Record<symbol, unknown>;
  const original = target[getApiKey] as (this: unknown, name: string, cb: unknown) => void;
  target[getApiKey] = function (this: Record<symbol, unknown>, name: string, callback: unknown) {
    const apis = this[apisKey];
    if (Array.isArray(apis)) {
      for (const [i, api] of apis.entries()) {
        if (api.name === "AddPartitionsToTxn" && api.maxVersion > CLIENT_ADD_PARTITIONS_TO_TXN) {
          apis[i] = { ...api, maxVersion: CLIENT_ADD_PARTITIONS_TO_TXN };
        }
      }
    }
    return original.call(this, name, callback);
  };
}

function symbolOf(object: object, description: string): symbol {
  for (let o: object | null = object; o !== null; o = Object.getPrototypeOf(o)) {
    const found = Object.getOwnPropertySymbols(o).find((s) => s.description === description);
    if (found !== undefined) return found;
  }
  throw new Error(
    `Cannot cap AddPartitionsToTxn to a client version: @platformatic/kafka has no ${description}`,
  );
}
