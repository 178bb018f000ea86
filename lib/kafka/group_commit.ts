/**
 * Group commit of a transactional role, independent of the client library: outputs and the input
 * positions they answer are queued, and everything queued while a transaction is in flight rides
 * in the next one, so the cost of a transaction is shared by everything ready at that moment.
 *
 * Input that produced nothing does not need a transaction of its own: its position is deferred and
 * committed with the next transaction, or after `deferMs` of quiet (reading such input again after
 * a crash publishes nothing, so nothing is lost).
 *
 * Every transaction is counted and timed here, whichever client runs it
 * (`despacho_transactions_total`, `despacho_transaction_duration_seconds`, labelled with the
 * consumer group). A record that carries no `traceparent` of its own (a role that does not trace
 * per record) gets the transaction's, so every record published is correlatable.
 */
import type { Logger } from "../log.ts";
import { transactionDuration, transactions } from "../metrics.ts";
import { linkTo, startHop, TRACEPARENT } from "../tracing.ts";
import type { TopicPartition } from "./interfaces.ts";
import type { Outgoing } from "./records.ts";

/**
 * A position read up to: the last record processed of one partition; `generation` is the group
 * generation it was read under, where the client tracks it (its commit is refused otherwise).
 */
export type Position = TopicPartition & { offset: string; generation?: number };

/**
 * One open Kafka transaction, as a client library runs it. `send` and `sendOffsets` may run at
 * the same time; `commit` and `abort` come once both have settled.
 */
export interface Transaction {
  send(records: readonly Outgoing[]): Promise<void>;
  /** Commits the group's offsets (the next offset to read, per partition) in this transaction. */
  sendOffsets(offsets: readonly Position[]): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** A transactional producer, as {@linkcode GroupCommit} uses it. */
export interface Transactions {
  /** Begins a transaction, initialising the producer first when needed. */
  begin(): Promise<Transaction>;
  /**
   * Called after a transaction failed for a reason that is not fatal: the producer may be left in
   * a state the library cannot leave by itself, so it is made anew (same transactional id).
   */
  reset(): Promise<void>;
}

/** Options of {@linkcode GroupCommit}. */
export interface GroupCommitOptions {
  log: Logger;
  /** The consumer group, for the metrics' `group` label. @default "none" */
  group?: string;
  /**
   * Whether a failure means this instance must stop (fenced by a newer one). Asked of the
   * transaction's failure and of its abort's: an abort refused as fenced ends the instance too.
   */
  isFatal(error: unknown): boolean;
  /**
   * Failures after which aborting is enough and the producer is kept, not made anew: a new
   * producer would take the transactional id back (InitProducerId) from a newer instance that
   * has it, where the kept one learns at its next request that it was fenced. @default none
   */
  keepsProducer?: (error: unknown) => boolean;
  /** Called once with the first fatal error. */
  onFatal(error: unknown): void;
  /** Whether this instance still owns a partition; output for others is refused. @default always */
  owns?: (tp: TopicPartition) => boolean;
  /** Longest delay of a deferred position, in ms. @default 500 */
  deferMs?: number;
}

interface Pending {
  records: readonly Outgoing[];
  position: Position | null;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** The partition is no longer this instance's: its output must not be published. */
export class NotOwnedError extends Error {
  /** @param tp The partition. */
  constructor(tp: TopicPartition) {
    super(`Cannot commit for ${tp.topic}/${tp.partition}: the partition is no longer ours`);
    this.name = "NotOwnedError";
  }
}

const key = (tp: TopicPartition) => `${tp.topic}/${tp.partition}`;

/** Queues commits and runs them as few transactions as it can. */
export class GroupCommit {
  #tx: Transactions;
  #options: GroupCommitOptions;
  #queue: Pending[] = [];
  #flushing: Promise<void> | null = null;
  #deferred = new Map<string, Position>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #fatal = false;

  /**
   * @param transactions The producer.
   * @param options Logger, fatal-error policy, ownership check.
   */
  constructor(transactions: Transactions, options: GroupCommitOptions) {
    this.#tx = transactions;
    this.#options = options;
  }

  /**
   * Publishes `records` and, with `position`, marks the input consumed up to it, atomically.
   *
   * @returns Resolves once committed.
   * @throws {NotOwnedError} When `position`'s partition is no longer owned at commit time.
   * @throws The transaction's error (it was aborted).
   */
  commit(records: readonly Outgoing[], position: Position | null): Promise<void> {
    if (position !== null && !this.#owns(position)) {
      return Promise.reject(new NotOwnedError(position));
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ records, position, resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  /** Marks input consumed up to `position` with no output: it rides in the next transaction. */
  defer(position: Position): void {
    this.#deferred.set(key(position), position);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      if (this.#deferred.size > 0) void this.commit([], null).catch(() => {});
    }, this.#options.deferMs ?? 500);
  }

  /**
   * Forgets deferred positions (all, or of partitions no longer owned): once a partition may be
   * someone else's, committing an old position could rewind their progress.
   */
  dropDeferred(): void {
    for (const [k, p] of this.#deferred) if (!this.#owns(p)) this.#deferred.delete(k);
  }

  /** Resolves when no transaction is in flight. */
  async drain(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#flushing !== null) await this.#flushing.catch(() => {});
  }

  #owns(tp: TopicPartition): boolean {
    return this.#options.owns?.(tp) ?? true;
  }

  async #flush(): Promise<void> {
    // Never finish in the turn that started it: `#flushing` is assigned its promise first.
    await null;
    try {
      await this.#flushQueue();
    } catch (error) {
      this.#flushing = null;
      this.#options.log.error("group commit failed", { error });
    }
  }

  async #flushQueue(): Promise<void> {
    while (this.#queue.length > 0) {
      const taken: Pending[] = [];
      for (const p of this.#queue.splice(0)) {
        if (this.#fatal) p.reject(new Error("Cannot commit: this instance was fenced"));
        else if (p.position !== null && !this.#owns(p.position)) {
          p.reject(new NotOwnedError(p.position));
        } else taken.push(p);
      }
      if (taken.length === 0) continue;
      const offsets = new Map<string, Position>();
      const positions = [...taken.map((p) => p.position), ...this.#deferred.values()];
      this.#deferred.clear();
      for (const position of positions) {
        if (position === null || !this.#owns(position)) continue;
        const next = (BigInt(position.offset) + 1n).toString();
        const known = offsets.get(key(position));
        if (known === undefined || BigInt(known.offset) < BigInt(next)) {
          offsets.set(key(position), { ...position, offset: next });
        }
      }
      let records = taken.flatMap((p) => p.records);
      if (records.length === 0 && offsets.size === 0) {
        for (const p of taken) p.resolve(); // nothing to publish or commit: no transaction
        continue;
      }
      const hop = this.#traced(records);
      if (hop !== null) records = hop.records;
      const group = this.#options.group ?? "none";
      const started = performance.now();
      let tx: Transaction | null = null;
      try {
        tx = await this.#tx.begin();
        const open = tx;
        // The records go to their partitions' leaders and the offsets to the group coordinator:
        // both at once (as the Java client does), then the commit once both are done.
        const sent = await Promise.allSettled([
          records.length > 0 ? open.send(records) : null,
          offsets.size > 0 ? open.sendOffsets([...offsets.values()]) : null,
        ]);
        for (const s of sent) if (s.status === "rejected") throw s.reason;
        await tx.commit();
        const seconds = (performance.now() - started) / 1000;
        transactions.labels(group, "committed").inc();
        transactionDuration.labels(group, "committed").observe(seconds);
        hop?.end();
        for (const p of taken) p.resolve();
      } catch (error) {
        const seconds = (performance.now() - started) / 1000;
        transactions.labels(group, "aborted").inc();
        transactionDuration.labels(group, "aborted").observe(seconds);
        hop?.end(error);
        let fatal = this.#options.isFatal(error);
        this.#options.log.warn("transaction failed; aborting it", {
          error,
          records: taken.reduce((n, p) => n + p.records.length, 0),
          fatal,
        });
        const refused = tx === null ? null : await tx.abort().then(() => null, (e: unknown) => e);
        let cause = error;
        if (!fatal && refused !== null && this.#options.isFatal(refused)) {
          this.#options.log.warn("the abort was refused: this instance was fenced", {
            error: refused,
          });
          fatal = true;
          cause = refused;
        }
        for (const p of taken) p.reject(cause);
        if (fatal) {
          this.#fatal = true;
          this.#options.onFatal(cause);
        } else if (this.#options.keepsProducer?.(error) !== true) {
          await this.#tx.reset().catch((e) =>
            this.#options.log.warn("cannot re-create the transactional producer", { error: e })
          );
        }
      }
    }
    // The last look at the queue and the end of the flush in one turn: a commit queued from here
    // on starts a new flush.
    this.#flushing = null;
  }

  /**
   * When some records carry no `traceparent`: a span for this transaction, linked to (up to 32 of)
   * the traces the other records carry, and the records with its context where they had none.
   */
  #traced(records: Outgoing[]): { records: Outgoing[]; end(error?: unknown): void } | null {
    if (records.every((r) => r.headers?.[TRACEPARENT] !== undefined)) return null;
    const links = [
      ...new Set(records.flatMap((r) => r.headers?.[TRACEPARENT] ?? [])),
    ].slice(0, 32).flatMap((t) => linkTo(t) ?? []);
    const hop = startHop("kafka transaction", {
      kind: "producer",
      attributes: {
        "messaging.system": "kafka",
        "messaging.consumer.group.name": this.#options.group ?? "none",
        "messaging.batch.message_count": records.length,
      },
      links,
    });
    return {
      records: records.map((r) =>
        r.headers?.[TRACEPARENT] !== undefined
          ? r
          : { ...r, headers: { ...r.headers, [TRACEPARENT]: hop.traceparent } }
      ),
      end: (error?: unknown) => hop.end(error),
    };
  }
}
