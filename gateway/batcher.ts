/**
 * Micro-batching in front of a sender that takes one request at a time (kafkajs's idempotent
 * producer allows one in flight): items pushed while a send is in flight go out together in the
 * next one, so throughput grows with load instead of queueing behind round trips.
 */

/** Groups pushed items into batches for `send`. */
export class Batcher<T> {
  #queue: { item: T; resolve: () => void; reject: (e: unknown) => void }[] = [];
  #sending = false;
  #send: (items: T[]) => Promise<void>;
  #max: number;

  /**
   * @param send Sends one batch; its settlement settles every item of the batch.
   * @param maxBatch Items per batch at most.
   * @default maxBatch 2000
   */
  constructor(send: (items: T[]) => Promise<void>, maxBatch = 2000) {
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new RangeError(
        `Cannot create batcher: maxBatch must be a whole number >= 1: current value is ${maxBatch}`,
      );
    }
    this.#send = send;
    this.#max = maxBatch;
  }

  /** Items waiting for a send. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Queues `item`; resolves when the batch holding it was sent, rejects with that batch's error.
   */
  push(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (!this.#sending) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#sending = true;
    // Let the items pushed in this same turn of the event loop join the first batch.
    await Promise.resolve();
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#max);
      try {
        await this.#send(batch.map((b) => b.item));
        for (const b of batch) b.resolve();
      } catch (error) {
        for (const b of batch) b.reject(error);
      }
    }
    this.#sending = false;
  }
}
