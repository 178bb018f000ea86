/**
 * The seam: everything Despacho asks of Kafka, whichever client library does it. Roles, the
 * gateway, the bench and the tests use these interfaces only; `lib/kafka/kafkajs/` and
 * `lib/kafka/platformatic/` implement them, and `KAFKA_CLIENT` chooses one (`lib/kafka/mod.ts`).
 */
import { KAFKA_CLIENTS } from "../config.ts";
import type { Logger } from "../log.ts";
import type { AclBinding } from "./acls.ts";
import type { InBatch, InRecord, Outgoing } from "./records.ts";
import type { TopicDef } from "./topics.ts";

/** The client libraries behind the seam (declared with the `KAFKA_CLIENT` setting). */
export { KAFKA_CLIENTS };
/** One of {@linkcode KAFKA_CLIENTS}. */
export type KafkaClientName = typeof KAFKA_CLIENTS[number];

/** One partition of one topic. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

/** A partition's first and next offsets (`high` is one past the last record). */
export interface PartitionEnds {
  partition: number;
  low: string;
  high: string;
}

/** An idempotent producer that waits for every in-sync replica (acks=all). */
export interface KafkaProducer {
  /** Connects and initialises the producer id; retries until the broker answers. */
  connect(): Promise<void>;
  /**
   * Publishes `records` (any topics); resolves when all are acknowledged, in as many requests as
   * the broker's size limit needs.
   */
  send(records: readonly Outgoing[]): Promise<void>;
  close(): Promise<void>;
}

/** Options of {@linkcode KafkaClient.reader}. */
export interface ReaderOptions {
  /** Topics to read from their beginning. */
  topics: readonly string[];
  /** Each fetched batch, in offset order per partition. Errors it throws are logged, not retried. */
  onBatch(batch: InBatch): void | Promise<void>;
  /** Longest time the broker holds a fetch waiting for data, in ms. @default 100 */
  maxWaitMs?: number;
  /** Where reading starts: each partition's beginning, or its end (only what comes next). @default "beginning" */
  from?: "beginning" | "end";
  /**
   * Per partition, the offset to start reading at instead of `from` (a read model resuming from the
   * offsets it stored); `undefined` for a partition leaves it to `from`.
   */
  startAt?: (topic: string, partition: number) => string | undefined;
}

/** A read_committed reader of whole topics that commits nothing (read models, tests, bench). */
export interface Reader {
  /** Resolves once it reads every partition: anything published afterwards will be seen. */
  readonly ready: Promise<void>;
  /** Whether it is reading now (false while it rejoins after a broker restart). */
  running(): boolean;
  stop(): Promise<void>;
}

/** What a role's batch handler can do with its batch. */
export interface BatchContext {
  /**
   * Publishes `records` and marks the input consumed up to and including `offset`, atomically.
   * Resolves once the transaction has committed.
   *
   * @throws When the partition is no longer this instance's, or the transaction failed; the batch
   * is then read again (by whoever owns the partition) from the last committed offset.
   */
  commit(records: readonly Outgoing[], offset: string): Promise<void>;
  /** Keeps the group membership alive during a long wait (a no-op where the client beats alone). */
  heartbeat(): Promise<void>;
  /** Aborted when the loop is stopping or the partition is revoked: waits should end. */
  signal: AbortSignal;
}

/** Handles one fetched batch of one partition: parse, decide, then `ctx.commit`. */
export type BatchHandler = (batch: InBatch, ctx: BatchContext) => Promise<void>;

/** Options of {@linkcode KafkaClient.runTransactional}. */
export interface TransactionalOptions {
  groupId: string;
  /** Stable per instance; a restarted instance with the same id fences its predecessor. */
  transactionalId: string;
  /** Stable per instance: the static group membership key, where the client supports it. */
  instanceId: string;
  topics: readonly string[];
  handle: BatchHandler;
  log: Logger;
  /**
   * How long the group waits for a silent member before moving its partitions. Long enough that a
   * slow machine does not lose its membership; a stopped worker leaves the group at once, and with
   * static membership a restarted one takes its partitions back at once. @default 30000
   */
  sessionTimeoutMs?: number;
  /**
   * Called when this instance's partitions change, with the partitions it owns from now on.
   * Per-partition state held in memory for any other partition is no longer this instance's.
   */
  onAssign?: (partitions: readonly TopicPartition[]) => void;
}

/** A running consume → decide → produce → commit loop. */
export interface TransactionalLoop {
  /** Resolves when the consumer has joined and the loop is running. */
  readonly ready: Promise<void>;
  /**
   * Settles when the loop ends: resolves once `stop()` has finished (group left, producer closed),
   * rejects when it cannot go on (fenced by a newer instance of itself, or a broken connection it
   * could not restore).
   */
  readonly done: Promise<void>;
  /**
   * Publishes records in a transaction without newly read input (e.g. windows closed because the
   * stream went idle). With `position`, they belong to that partition: they are refused unless this
   * instance still owns it, and the position (the last record processed) is committed with them.
   */
  publish(
    records: readonly Outgoing[],
    position?: TopicPartition & { offset: string },
  ): Promise<void>;
  /** The partitions this instance owns now. */
  assigned(): readonly TopicPartition[];
  /** Stops consuming, lets the transaction in progress finish, leaves the group, disconnects. */
  stop(): Promise<void>;
}

/** Options of {@linkcode KafkaClient.ensureTopics}. */
export interface EnsureTopicsOptions {
  /** Longest wait for the cluster to create them and give every partition a leader. */
  timeoutMs: number;
  /** Progress while it waits. */
  say?: (line: string) => void;
  signal?: AbortSignal;
}

/** How an error of the client library should be treated. */
export type ErrorKind =
  /** Another instance took this one's identity (fenced): this process must not go on. */
  | "fatal"
  /** Anything else: back off, re-create what is broken, go on. */
  | "retriable";

/** Everything Despacho asks of Kafka. */
export interface KafkaClient {
  /** Which library this is. */
  readonly name: KafkaClientName;
  /**
   * Creates the topics that do not exist yet (existing ones are left as they are), then waits
   * until every partition of every wanted topic has a leader — also when another process created
   * them at the same moment. Retries what a slow or restarting cluster refuses.
   *
   * @returns The names of the topics this call created.
   */
  ensureTopics(defs: readonly TopicDef[], options: EnsureTopicsOptions): Promise<string[]>;
  /** First and next offsets of every partition of `topic`. */
  endOffsets(topic: string): Promise<PartitionEnds[]>;
  /** The offsets a consumer group has committed on `topic` (-1: none yet), per partition. */
  groupOffsets(groupId: string, topic: string): Promise<{ partition: number; offset: string }[]>;
  /**
   * Per partition, the offset of the first record at or after `timestampMs` (the partition's end
   * when there is none).
   */
  offsetsAtTime(
    topic: string,
    timestampMs: number,
  ): Promise<{ partition: number; offset: string }[]>;
  /**
   * Reads the records of one partition from offset `from` (inclusive) to `to` (exclusive),
   * read_committed, in order, and resolves once the reader's position has passed `to - 1`.
   *
   * `to` may be the partition's high watermark ({@linkcode KafkaClient.endOffsets}): a
   * read_committed reader never delivers transaction markers or aborted records, so the last
   * record delivered can lie below `to - 1`, but the position moves past those offsets all the
   * same, and that is what ends the read. An offset below `to` in a transaction still open is
   * reached once that transaction ends (committed: delivered; aborted: skipped).
   *
   * @throws {WaitTimeoutError} When the position does not reach `to` within the client's start-up
   * ceiling.
   * @throws The reason of `signal` when it aborts first.
   */
  readRange(
    topic: string,
    partition: number,
    from: string,
    to: string,
    onRecords: (records: readonly InRecord[]) => void,
    signal?: AbortSignal,
  ): Promise<void>;
  /** Resolves when a broker answers a metadata request. */
  ping(): Promise<void>;
  /** Each partition's leader, replicas and in-sync replicas (node ids), by partition. */
  describeTopic(
    topic: string,
  ): Promise<{ partition: number; leader: number; replicas: number[]; isr: number[] }[]>;
  /** A new idempotent producer (not connected yet). */
  producer(): KafkaProducer;
  /** Starts reading whole topics, read_committed, from their beginning. */
  reader(options: ReaderOptions): Reader;
  /** Starts a transactional consume → decide → produce → commit loop in a consumer group. */
  runTransactional(options: TransactionalOptions): TransactionalLoop;
  /**
   * Adds ACLs (allow only), as the admin principal; ones that exist already are left as they are.
   *
   * @throws When the principal may not alter ACLs (`CLUSTER_AUTHORIZATION_FAILED`) or the cluster
   * has no authorizer (`SECURITY_DISABLED`).
   */
  createAcls(bindings: readonly AclBinding[]): Promise<void>;
  /** The allow ACLs of `principal` (`User:<name>`), as {@linkcode AclBinding}s. */
  describeAcls(principal: string): Promise<AclBinding[]>;
  /** Whether an error this client threw means the process must stop. */
  classify(error: unknown): ErrorKind;
  /** Closes what the client itself holds (admin connections). */
  close(): Promise<void>;
}
