/**
 * The erased orders, as a role knows them: every id of the compacted `order_erasures` topic
 * (staff's `DELETE /orders/{id}`, written by the gateway), loaded when the role starts and followed
 * while it runs, so a reader of the pipeline's topics can ignore an erased order's records, also
 * when it replays them.
 *
 * Memory: ids only, never forgotten. Erasures are rare (one per customer who asks), and the topic
 * keeps them for good, so the set is as large as the topic; an id is 64 characters at most.
 *
 * Knowing "everything requested so far" is what the roles' ordering argument needs: a role that
 * takes over a partition calls {@linkcode ErasedOrders.caughtUpNow} first, so every erasure
 * requested before that moment is known before it decides anything on the partition.
 */
import type { KafkaClient, Reader } from "./kafka/interfaces.ts";
import { type InRecord, parseRecord } from "./kafka/records.ts";
import type { Logger } from "./log.ts";
import { OrderErasureRequestedSchema } from "./order.ts";
import { waitFor } from "./wait.ts";

/** What {@linkcode ErasedOrders} asks of Kafka. */
export type ErasuresClient = Pick<KafkaClient, "endOffsets" | "readRange" | "reader">;

/**
 * The set of erased order ids, fed from `order_erasures` (and from what the role learns itself:
 * {@linkcode ErasedOrders.add}).
 *
 * @example
 * ```ts ignore
 * const erased = new ErasedOrders(kafka, config.TOPIC_ORDER_ERASURES, log);
 * await erased.start(); // the whole topic, then follows it
 * erased.has("o1");
 * await erased.caughtUpNow(); // on a partition assignment
 * await erased.stop();
 * ```
 */
export class ErasedOrders {
  #ids = new Set<string>();
  /** Per partition of the topic, the next offset not yet applied. */
  #next = new Map<number, bigint>();
  #reader: Reader | null = null;
  /** The barrier of the latest assignment; null before any, or after one failed. */
  #barrier: Promise<void> | null = null;
  #kafka: ErasuresClient;
  #topic: string;
  #log: Logger;
  #startupTimeoutMs: number;

  /**
   * @param kafka The client (`endOffsets`, `readRange`, `reader`).
   * @param topic The erasures topic.
   * @param log Says how many erasures were loaded, and which records are not erasure requests.
   * @param startupTimeoutMs Longest wait for the topic's end offsets (a topic just created may have
   * no leader yet). @default 600000
   */
  constructor(kafka: ErasuresClient, topic: string, log: Logger, startupTimeoutMs = 600_000) {
    this.#kafka = kafka;
    this.#topic = topic;
    this.#log = log;
    this.#startupTimeoutMs = startupTimeoutMs;
  }

  /**
   * The erased orders of a role's configuration: its erasures topic and start-up ceiling.
   *
   * @param kafka The client.
   * @param config `TOPIC_ORDER_ERASURES` and `STARTUP_TIMEOUT_MS`.
   * @param log The role's logger.
   */
  static of(
    kafka: ErasuresClient,
    config: { TOPIC_ORDER_ERASURES: string; STARTUP_TIMEOUT_MS: number },
    log: Logger,
  ): ErasedOrders {
    return new ErasedOrders(kafka, config.TOPIC_ORDER_ERASURES, log, config.STARTUP_TIMEOUT_MS);
  }

  /** Erased ids known now. */
  get size(): number {
    return this.#ids.size;
  }

  /** Whether order `id` is known to be erased. */
  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /** Adds `id`: the role met the erasure itself (an `OrderErased` or a request in its loop). */
  add(id: string): void {
    this.#ids.add(id);
  }

  /**
   * Loads the whole topic, then follows it (records written from now on are added as they come).
   * Resolves once the load is done; call it before the role's loop starts.
   *
   * @throws What {@linkcode ErasedOrders.caughtUpNow} throws.
   */
  async start(): Promise<void> {
    const started = Date.now();
    await this.caughtUpNow();
    this.#log.info("loaded the erased orders", {
      topic: this.#topic,
      orders: this.#ids.size,
      ms: Date.now() - started,
    });
    this.#reader = this.#kafka.reader({
      topics: [this.#topic],
      startAt: (_topic, partition) => this.#next.get(partition)?.toString(),
      onBatch: (batch) => this.#apply(batch.records),
    });
  }

  /**
   * Reads the topic's end offsets now and resolves once every record below them is applied: an
   * erasure requested before the call is then known. What the follower has not applied yet is read
   * here directly (a read_committed range ends on the reader's position, so a tail of transaction
   * markers cannot hold it up); when the follower is caught up, no read is made.
   *
   * @param signal Ends the wait early, rejecting with its reason.
   * @throws What `endOffsets` or `readRange` throws (a range not read within the client's start-up
   * ceiling, or the signal's reason).
   */
  async caughtUpNow(signal?: AbortSignal): Promise<void> {
    // Asked again while the topic is new and has no leader for a partition yet (kafkajs:
    // NOT_LEADER_OR_FOLLOWER), up to the start-up ceiling, as the gateway's status consumer does.
    const ends = await waitFor(`the end offsets of ${this.#topic}`, async () => ({
      ready: true,
      value: await this.#kafka.endOffsets(this.#topic),
    }), {
      timeoutMs: this.#startupTimeoutMs,
      intervalMs: 250,
      say: (line) => this.#log.info(line),
      ...(signal === undefined ? {} : { signal }),
    });
    await Promise.all(ends.map(async (e) => {
      const high = BigInt(e.high);
      const low = BigInt(e.low);
      const next = this.#next.get(e.partition) ?? low;
      const from = next > low ? next : low;
      if (from < high) {
        await this.#kafka.readRange(
          this.#topic,
          e.partition,
          from.toString(),
          e.high,
          (records) => this.#apply(records),
          signal,
        );
      }
      this.#advance(e.partition, high);
    }));
  }

  /**
   * Starts the barrier of a new partition assignment ({@linkcode ErasedOrders.caughtUpNow}): a
   * partition that was another instance's may hold records past an erasure this instance never
   * read. Call it from the loop's `onAssign`, and await {@linkcode ErasedOrders.settled} before
   * deciding on a batch.
   */
  assigned(): void {
    const barrier = this.caughtUpNow();
    this.#barrier = barrier;
    barrier.catch(() => {
      if (this.#barrier === barrier) this.#barrier = null;
    });
  }

  /**
   * Resolves once the barrier of the latest assignment has passed; after a failed one, starts it
   * again (the batch that awaited it failed and will be read again).
   *
   * @throws What {@linkcode ErasedOrders.caughtUpNow} throws.
   */
  settled(): Promise<void> {
    if (this.#barrier === null) this.assigned();
    return this.#barrier!;
  }

  /** Stops following the topic. */
  async stop(): Promise<void> {
    const reader = this.#reader;
    this.#reader = null;
    await reader?.stop();
  }

  #apply(records: readonly InRecord[]): void {
    for (const r of records) {
      this.#advance(r.partition, BigInt(r.offset) + 1n);
      if (r.value === null) continue;
      const id = this.#idOf(r.value);
      if (id === null) {
        // The processing role dead-letters it in its own loop; here it is only not an erasure.
        this.#log.warn("not an erasure request; ignored", {
          topic: r.topic,
          partition: r.partition,
          offset: r.offset,
        });
        continue;
      }
      this.#ids.add(id);
    }
  }

  #idOf(value: Uint8Array): string | null {
    const parsed = parseRecord(value, OrderErasureRequestedSchema);
    return parsed.ok ? parsed.value.id : null;
  }

  #advance(partition: number, next: bigint): void {
    const known = this.#next.get(partition);
    if (known === undefined || next > known) this.#next.set(partition, next);
  }
}
