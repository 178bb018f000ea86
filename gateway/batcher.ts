/**
 * Micro-batching in front of a sender whose round trips are slow: items pushed while a send is in
 * flight go out together in a later one, so throughput grows with load instead of queueing behind
 * round trips.
 *
 * Items travel in lanes ({@linkcode BatcherOptions.laneOf}): a lane has at most one send in flight
 * and its items go out in the order they were pushed, so a lane that maps to a Kafka partition
 * keeps the one-request-at-a-time order an idempotent producer's sequence numbers rely on. Lanes do
 * not wait for each other: a send stuck on one lane (a partition whose leader was just killed)
 * holds only that lane's items, while other lanes' sends go out beside it, up to
 * {@linkcode BatcherOptions.maxInFlight}. Idle lanes of one group ({@linkcode BatcherOptions.groupOf},
 * such as the broker leading them) share a send, so a steady load makes as few sends as one lane
 * would. With the defaults (one lane, one send in flight) it sends one batch at a time.
 */

/** Options of {@linkcode Batcher}. */
export interface BatcherOptions<T> {
  /**
   * Items per send at most.
   *
   * @default 2000
   */
  maxBatch?: number;
  /**
   * Sends in flight at most.
   *
   * @default 1
   */
  maxInFlight?: number;
  /**
   * The lane of an item: a lane has at most one send in flight, and its items are sent in the
   * order they were pushed.
   *
   * @default one lane for every item
   */
  laneOf?: (item: T) => string;
  /**
   * The group of a lane, asked when a send is put together: the waiting items of idle lanes of
   * one group go out in one send.
   *
   * @default each lane its own group
   */
  groupOf?: (lane: string) => string;
}

interface Waiting<T> {
  item: T;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** Groups pushed items into batches for `send`. */
export class Batcher<T> {
  /** Waiting items per lane, in push order; a lane is here only while it has some. */
  #lanes = new Map<string, Waiting<T>[]>();
  /** Lanes with a send in flight. */
  #busy = new Set<string>();
  #waiting = 0;
  #inFlight = 0;
  #scheduled = false;
  /** Set by {@linkcode close}: the error every later push rejects with. */
  #closed: { reason: unknown } | undefined;
  #send: (items: T[]) => Promise<void>;
  #maxBatch: number;
  #maxInFlight: number;
  #laneOf: (item: T) => string;
  #groupOf: (lane: string) => string;

  /**
   * @param send Sends one batch; its settlement settles every item of the batch.
   * @param options Bounds, lanes and groups.
   * @throws {RangeError} When `maxBatch` or `maxInFlight` is not a whole number >= 1.
   */
  constructor(send: (items: T[]) => Promise<void>, options: BatcherOptions<T> = {}) {
    const { maxBatch = 2000, maxInFlight = 1 } = options;
    for (const [name, value] of Object.entries({ maxBatch, maxInFlight })) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(
          `Cannot create batcher: ${name} must be a whole number >= 1: current value is ${value}`,
        );
      }
    }
    this.#send = send;
    this.#maxBatch = maxBatch;
    this.#maxInFlight = maxInFlight;
    this.#laneOf = options.laneOf ?? (() => "");
    this.#groupOf = options.groupOf ?? ((lane) => lane);
  }

  /** Items waiting for a send. */
  get pending(): number {
    return this.#waiting;
  }

  /** Sends in flight. */
  get sending(): number {
    return this.#inFlight;
  }

  /**
   * Queues `item`; resolves when the batch holding it was sent, rejects with that batch's error.
   *
   * @throws What `laneOf` throws, as a rejection.
   */
  push(item: T): Promise<void> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed.reason);
    return new Promise((resolve, reject) => {
      const lane = this.#laneOf(item);
      let queue = this.#lanes.get(lane);
      if (queue === undefined) this.#lanes.set(lane, queue = []);
      queue.push({ item, resolve, reject });
      this.#waiting++;
      if (this.#scheduled) return;
      this.#scheduled = true;
      // Let the items pushed in this same turn of the event loop join the first batch.
      queueMicrotask(() => {
        this.#scheduled = false;
        this.#pump();
      });
    });
  }

  /**
   * Starts no more sends: rejects the items waiting for one, and every later push, with `reason`.
   * Sends in flight settle their items as they end.
   *
   * @param reason What the rejected pushes reject with.
   */
  close(reason: unknown): void {
    this.#closed ??= { reason };
    const waiting = [...this.#lanes.values()].flat();
    this.#lanes.clear();
    this.#waiting = 0;
    for (const w of waiting) w.reject(this.#closed.reason);
  }

  /** Starts sends while a slot is free and an idle lane has items. */
  #pump(): void {
    while (this.#closed === undefined && this.#inFlight < this.#maxInFlight) {
      const taken = this.#take();
      if (taken === undefined) return;
      this.#start(taken.lanes, taken.batch);
    }
  }

  /**
   * The next batch: the waiting items of the first idle lane (lanes in the order they got items),
   * then those of the other idle lanes of its group, up to `maxBatch`.
   */
  #take(): { lanes: string[]; batch: Waiting<T>[] } | undefined {
    let group: string | undefined;
    const lanes: string[] = [];
    const batch: Waiting<T>[] = [];
    for (const [lane, queue] of this.#lanes) {
      if (this.#busy.has(lane)) continue;
      if (group === undefined) group = this.#groupOf(lane);
      else if (this.#groupOf(lane) !== group) continue;
      batch.push(...queue.splice(0, this.#maxBatch - batch.length));
      lanes.push(lane);
      if (queue.length === 0) this.#lanes.delete(lane);
      if (batch.length === this.#maxBatch) break;
    }
    return batch.length === 0 ? undefined : { lanes, batch };
  }

  #start(lanes: string[], batch: Waiting<T>[]): void {
    for (const lane of lanes) this.#busy.add(lane);
    this.#waiting -= batch.length;
    this.#inFlight++;
    const settle = (error?: { reason: unknown }) => {
      for (const lane of lanes) this.#busy.delete(lane);
      this.#inFlight--;
      for (const b of batch) {
        if (error === undefined) b.resolve();
        else b.reject(error.reason);
      }
      this.#pump();
    };
    let sent: Promise<void>;
    try {
      sent = this.#send(batch.map((b) => b.item));
    } catch (reason) {
      sent = Promise.reject(reason);
    }
    sent.then(() => settle(), (reason: unknown) => settle({ reason }));
  }
}
