/**
 * Producers each used by one send at a time. The gateway's batcher sends to several partitions at
 * once, but an idempotent producer's state is shared by all its sends: `@platformatic/kafka` clears
 * every partition's sequence numbers when any send fails, so a send of another partition that is
 * still fetching metadata then numbers its records from 0 again, and the broker may take them for a
 * duplicate of that producer's first batch and acknowledge them unwritten. Giving every send a
 * producer of its own (each with its own producer id) keeps each producer used exactly as with one
 * send at a time. Producers are made as sends need them, up to the batcher's bound, and kept.
 */
import { DespachoError } from "../lib/errors.ts";
import type { KafkaProducer } from "../lib/kafka/mod.ts";

/** Up to `max` producers, each lent to one send at a time. */
export class ProducerPool {
  #create: () => KafkaProducer;
  #max: number;
  /** Connected producers no send holds, the last returned on top. */
  #idle: KafkaProducer[] = [];
  #all: KafkaProducer[] = [];
  #closed = false;

  /**
   * @param create Makes a producer (not connected yet).
   * @param max Producers at most: the sends that may be in flight at once.
   * @throws {RangeError} When `max` is not a whole number >= 1.
   */
  constructor(create: () => KafkaProducer, max: number) {
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(
        `Cannot create producer pool: max must be a whole number >= 1: current value is ${max}`,
      );
    }
    this.#create = create;
    this.#max = max;
  }

  /** Producers made so far. */
  get size(): number {
    return this.#all.length;
  }

  /**
   * Connects the first producer (made if none is).
   *
   * @throws {DespachoError} `KAFKA_UNAVAILABLE` (retriable) once the pool is closed.
   * @throws What its `connect` throws.
   */
  async connect(): Promise<void> {
    this.#refuseClosed();
    const first = this.#all[0];
    if (first !== undefined) return await first.connect();
    this.#idle.push(await this.#make());
  }

  /**
   * Runs `use` with a producer no other send holds, and takes it back when `use` settles.
   *
   * @returns What `use` returns.
   * @throws {DespachoError} `KAFKA_UNAVAILABLE` (retriable) once the pool is closed: no producer
   * is made and `use` is not called.
   * @throws {RangeError} When all `max` producers are lent (the caller bounds its sends).
   * @throws What making, connecting or `use` throws.
   */
  async use<T>(use: (producer: KafkaProducer) => Promise<T>): Promise<T> {
    this.#refuseClosed();
    const producer = this.#idle.pop() ?? await this.#make();
    try {
      return await use(producer);
    } finally {
      if (!this.#closed) this.#idle.push(producer);
    }
  }

  /** Closes every producer, and lends none after; errors are ignored. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#idle = [];
    await Promise.all(this.#all.map((p) => p.close().catch(() => {})));
  }

  async #make(): Promise<KafkaProducer> {
    if (this.#all.length >= this.#max) {
      throw new RangeError(`Cannot lend a producer: all ${this.#max} are in use`);
    }
    const producer = this.#create();
    this.#all.push(producer);
    try {
      await producer.connect();
      // Closed while connecting: close() has closed it already, or closes it now (again: safe).
      this.#refuseClosed();
    } catch (error) {
      // Not kept: the next send makes another.
      const at = this.#all.indexOf(producer);
      if (at >= 0) this.#all.splice(at, 1);
      await producer.close().catch(() => {});
      throw error;
    }
    return producer;
  }

  #refuseClosed(): void {
    if (this.#closed) {
      throw new DespachoError("KAFKA_UNAVAILABLE", "Cannot lend a producer: the pool is closed", {
        retriable: true,
      });
    }
  }
}
