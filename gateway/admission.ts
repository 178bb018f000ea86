/**
 * Admission of writes to Kafka: at most `maxPending` records are between a request and Kafka's
 * acknowledgement at once (validated and waiting, in the micro-batcher, or in flight), so a slow or
 * stalled broker makes the gateway refuse early with 429 instead of queueing without bound. A
 * request waits for its acknowledgement at most `ackTimeoutMs` and then answers 503; that one slow
 * acknowledgement says nothing about the connection, so it leaves readiness alone, and its slot
 * stays taken until the write really settles, so memory stays bounded while Kafka is slow.
 */
import type { MiddlewareHandler } from "hono";
import { DespachoError } from "../lib/errors.ts";
import type { OutRecord } from "../lib/kafka/mod.ts";
import type { Publisher } from "./publisher.ts";

/** Options of {@linkcode Admission}. */
export interface AdmissionOptions {
  /** Records admitted and not yet settled, at most. */
  maxPending: number;
  /** Longest wait for an acknowledgement before the request gets its 503. */
  ackTimeoutMs: number;
}

/** Slots taken by one request for the records it is about to publish. */
export interface Reservation {
  /**
   * Publishes `record` in one of the reserved slots, freed when the write settles.
   *
   * @throws {DespachoError} `KAFKA_UNAVAILABLE` (retriable) on a failed or unacknowledged write.
   * @throws {RangeError} When every reserved slot is already used.
   */
  publish(record: OutRecord): Promise<void>;
  /** Frees the slots not used. Safe to call more than once. */
  release(): void;
}

/** Bounds the writes a gateway has pending; a {@linkcode Publisher} itself. */
export class Admission implements Publisher {
  #publisher: Publisher;
  #max: number;
  #ackTimeoutMs: number;
  #pending = 0;
  #idle: (() => void)[] = [];
  #tickMs: number;
  #current: Deadline | undefined;

  /**
   * @param publisher Where records go.
   * @param options Bounds.
   * @throws {RangeError} When a bound is not a whole number >= 1.
   */
  constructor(publisher: Publisher, options: AdmissionOptions) {
    for (const [name, value] of Object.entries(options)) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(
          `Cannot create admission: ${name} must be a whole number >= 1: current value is ${value}`,
        );
      }
    }
    this.#publisher = publisher;
    this.#max = options.maxPending;
    this.#ackTimeoutMs = options.ackTimeoutMs;
    this.#tickMs = Math.max(1, Math.min(10, Math.floor(options.ackTimeoutMs / 10)));
  }

  /** Records admitted and not yet settled. */
  get pending(): number {
    return this.#pending;
  }

  /** Whether no record can be admitted now. */
  get full(): boolean {
    return this.#pending >= this.#max;
  }

  /** Whether the publisher expects writes to succeed now. */
  ready(): boolean {
    return this.#publisher.ready();
  }

  /**
   * Refuses early, before a request does any work, when `count` slots are not free now.
   *
   * @param count Records the caller is about to publish.
   * @default count 1
   * @throws {DespachoError} `OVERLOADED` (retriable) when fewer than `count` slots are free.
   */
  check(count = 1): void {
    if (this.#pending + count > this.#max) {
      throw new DespachoError(
        "OVERLOADED",
        `Cannot admit ${count} ${count === 1 ? "write" : "writes"}: ${this.#pending} ${
          this.#pending === 1 ? "is" : "are"
        } already waiting for Kafka and the limit is ${this.#max}`,
        { retriable: true },
      );
    }
  }

  /**
   * A middleware refusing with {@linkcode check} before anything reads the request's body.
   *
   * @returns The Hono middleware.
   */
  guard(): MiddlewareHandler {
    return (_c, next) => {
      this.check();
      return next();
    };
  }

  /**
   * Takes `count` slots at once, or none.
   *
   * @param count Records the caller is about to publish.
   * @returns The reservation; release it when done (unused slots are freed then).
   * @throws {DespachoError} `OVERLOADED` (retriable) when fewer than `count` slots are free.
   */
  reserve(count: number): Reservation {
    this.check(count);
    this.#pending += count;
    let left = count;
    const free = (n: number) => {
      this.#pending -= n;
      if (this.#pending === 0) { for (const wake of this.#idle.splice(0)) wake(); }
    };
    return {
      publish: (record) => {
        if (left === 0) {
          throw new RangeError(
            `Cannot publish: all ${count} reserved slots are used: current record key is "${record.key}"`,
          );
        }
        left--;
        return this.#write(record, () => free(1));
      },
      release: () => {
        const unused = left;
        left = 0;
        if (unused > 0) free(unused);
      },
    };
  }

  /**
   * Publishes one record in a slot of its own.
   *
   * @throws {DespachoError} `OVERLOADED` when full; `KAFKA_UNAVAILABLE` as {@linkcode Reservation.publish}.
   */
  publish(record: OutRecord): Promise<void> {
    const reservation = this.reserve(1);
    return reservation.publish(record);
  }

  /** Resolves once no record is pending (at once when none is). */
  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #write(record: OutRecord, settled: () => void): Promise<void> {
    let write: Promise<void>;
    try {
      write = this.#publisher.publish(record);
    } catch (error) {
      settled();
      throw error;
    }
    // The slot is freed when the write settles, not when the caller stops waiting.
    write.then(settled, settled);
    const deadline = this.#deadline();
    try {
      const outcome = await Promise.race([write, deadline.expired]);
      if (outcome === EXPIRED) {
        throw new DespachoError(
          "KAFKA_UNAVAILABLE",
          `Cannot publish: Kafka did not acknowledge within ${this.#ackTimeoutMs} ms`,
          { retriable: true },
        );
      }
    } finally {
      if (--deadline.waiting === 0) clearTimeout(deadline.timer);
    }
  }

  /**
   * The deadline shared by the writes that start within one tick (a tenth of the ack timeout, 10 ms
   * at most): one timer for all of them instead of one per write, which under load is most of the
   * admission's cost. A wait so ends between `ackTimeoutMs` and `ackTimeoutMs` + one tick.
   */
  #deadline(): Deadline {
    const now = performance.now();
    const current = this.#current;
    if (current !== undefined && current.waiting > 0 && now - current.opened < this.#tickMs) {
      current.waiting++;
      return current;
    }
    let expire: (value: typeof EXPIRED) => void = () => {};
    const expired = new Promise<typeof EXPIRED>((r) => expire = r);
    const timer = setTimeout(() => expire(EXPIRED), this.#ackTimeoutMs + this.#tickMs);
    const d: Deadline = { opened: now, waiting: 1, expired, timer };
    this.#current = d;
    return d;
  }
}

const EXPIRED = Symbol("expired");

/** See {@linkcode Admission.#deadline}. */
interface Deadline {
  opened: number;
  waiting: number;
  expired: Promise<typeof EXPIRED>;
  timer: ReturnType<typeof setTimeout>;
}
