/**
 * The gateway's batcher lanes: one per partition, named `topic:partition`, each grouped with the
 * broker leading it. A record's partition is `partitionOf(key, count)` with the count last read
 * here, and the publisher sends it to that partition explicitly, so a lane and the partition its
 * records are written to agree.
 *
 * Kafka can add partitions, never remove them: a larger count is adopted at once, a smaller one is
 * stale metadata (a broker that has not heard of the change yet) and ignored. After partitions are
 * added, a key's records routed by the old count may still be in flight on its old lane while new
 * ones go out on its new lane (see `gateway/publisher.ts` for what this means for order).
 */
import { DespachoError } from "../lib/errors.ts";
import { type KafkaClient, type OutRecord, partitionOf } from "../lib/kafka/mod.ts";
import type { Logger } from "../lib/log.ts";

/** Leaders read longer ago than this are read again, in the background. */
const LAYOUT_MAX_AGE_MS = 60_000;
/** Leaders are read again at most this often per topic. */
const LAYOUT_MIN_INTERVAL_MS = 500;

/** A topic's partition count and the broker leading each partition (-1: none), as last read. */
interface Layout {
  partitions: number;
  leaders: number[];
  readAt: number;
}

/** Where a record goes: its partition and the batcher lane standing for it. */
export interface Lane {
  /** `topic:partition`. */
  name: string;
  /** The partition the record is sent to. */
  partition: number;
}

/** Lanes by partition, grouped by leader, from what `describeTopic` says. */
export class PartitionLanes {
  #describe: KafkaClient["describeTopic"];
  #log: Logger;
  #now: () => number;
  #layouts = new Map<string, Layout>();
  #reading = new Map<string, Promise<void>>();

  /**
   * @param describe Reads a topic's partitions and their leaders.
   * @param log Logger.
   * @param now The clock. @default Date.now
   */
  constructor(describe: KafkaClient["describeTopic"], log: Logger, now: () => number = Date.now) {
    this.#describe = describe;
    this.#log = log;
    this.#now = now;
  }

  /**
   * The lane of `record`: reads the topic's partitions at its first record.
   *
   * @throws {DespachoError} `KAFKA_UNAVAILABLE` (retriable) when the topic has no partitions.
   * @throws What `describeTopic` throws when the topic was never read.
   */
  async route(record: OutRecord): Promise<Lane> {
    const known = this.routeNow(record);
    if (known !== undefined) return known;
    await this.#read(record.topic);
    return this.routeNow(record)!;
  }

  /**
   * {@linkcode route} without waiting: the lane when the topic's partitions are known (every
   * record but a topic's first), else `undefined`.
   */
  routeNow(record: OutRecord): Lane | undefined {
    const topic = record.topic;
    const layout = this.#layouts.get(topic);
    if (layout === undefined) return undefined;
    if (this.#now() - layout.readAt > LAYOUT_MAX_AGE_MS) this.refresh(topic);
    const partition = partitionOf(record.key, layout.partitions);
    return { name: `${topic}:${partition}`, partition };
  }

  /**
   * The broker leading a lane's partition, as last read: lanes it leads share a send.
   *
   * @param lane A lane's name.
   * @returns The leader's node id as text; `-1` when unknown.
   */
  groupOf(lane: string): string {
    const at = lane.lastIndexOf(":");
    const leader = this.#layouts.get(lane.slice(0, at))?.leaders[Number(lane.slice(at + 1))];
    return String(leader ?? -1);
  }

  /** Reads `topic`'s partitions and leaders again in the background, unless done just now. */
  refresh(topic: string): void {
    const known = this.#layouts.get(topic);
    if (known !== undefined && this.#now() - known.readAt < LAYOUT_MIN_INTERVAL_MS) return;
    this.#read(topic).catch((error) => {
      this.#log.debug("cannot read topic leaders", { topic, error });
    });
  }

  /** One read per topic at a time. */
  #read(topic: string): Promise<void> {
    let read = this.#reading.get(topic);
    if (read !== undefined) return read;
    read = this.#describe(topic).then((described) => {
      if (described.length === 0) {
        throw new DespachoError(
          "KAFKA_UNAVAILABLE",
          `Cannot publish: topic "${topic}" has no partitions`,
          { retriable: true },
        );
      }
      const leaders: number[] = [];
      for (const p of described) leaders[p.partition] = p.leader;
      this.#learn(topic, { partitions: described.length, leaders, readAt: this.#now() });
    }).finally(() => this.#reading.delete(topic));
    this.#reading.set(topic, read);
    return read;
  }

  #learn(topic: string, layout: Layout): void {
    const before = this.#layouts.get(topic);
    if (before !== undefined && layout.partitions < before.partitions) {
      // Partitions are never removed: this answer came from a broker behind the others. Kept as
      // read now all the same, so it is asked again only when due.
      this.#log.debug("topic partition count lower than known; ignored as stale", {
        topic,
        known: before.partitions,
        read: layout.partitions,
      });
      this.#layouts.set(topic, { ...before, readAt: layout.readAt });
      return;
    }
    if (before !== undefined && layout.partitions > before.partitions) {
      this.#log.info("topic partitions added; keys routed by the new count from now on", {
        topic,
        before: before.partitions,
        now: layout.partitions,
      });
    }
    this.#layouts.set(topic, layout);
  }
}
