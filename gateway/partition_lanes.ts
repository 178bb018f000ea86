/**
 * The gateway's batcher lanes: one per partition, named `topic:partition`, each grouped with the
 * broker leading it. A lane may have one send in flight at a time (`gateway/batcher.ts`), so two
 * lanes must never stand for one partition: when a topic's partition count changes (keys then go to
 * other partitions), its new records wait until those routed by the old count are settled, and only
 * then are routed by the new one.
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

/** A record's lane, held until {@linkcode Lane.release}. */
export interface Lane {
  /** `topic:partition`. */
  name: string;
  /** Says the record is settled (acknowledged or failed). Safe to call more than once. */
  release(): void;
}

/** Lanes by partition, grouped by leader, from what `describeTopic` says. */
export class PartitionLanes {
  #describe: KafkaClient["describeTopic"];
  #log: Logger;
  #now: () => number;
  #layouts = new Map<string, Layout>();
  #reading = new Map<string, Promise<void>>();
  /** Records of a topic holding a lane. */
  #held = new Map<string, number>();
  /** A new partition count waiting for the topic's records routed by the old one. */
  #changes = new Map<string, { layout: Layout; adopted: Promise<void>; adopt: () => void }>();

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
   * The lane of `record`, held until released: reads the topic's partitions at its first record.
   *
   * @throws {DespachoError} `KAFKA_UNAVAILABLE` (retriable) when the topic has no partitions.
   * @throws What `describeTopic` throws when the topic was never read.
   */
  async take(record: OutRecord): Promise<Lane> {
    const topic = record.topic;
    for (;;) {
      const lane = this.takeNow(record);
      if (lane !== undefined) return lane;
      const change = this.#changes.get(topic);
      await (change === undefined ? this.#read(topic) : change.adopted);
    }
  }

  /**
   * {@linkcode take} without waiting: the lane when the topic's partitions are known and not
   * changing (every record but a topic's first), else `undefined`.
   */
  takeNow(record: OutRecord): Lane | undefined {
    const topic = record.topic;
    const layout = this.#layouts.get(topic);
    if (layout === undefined || this.#changes.has(topic)) return undefined;
    if (this.#now() - layout.readAt > LAYOUT_MAX_AGE_MS) this.refresh(topic);
    // The count used and the hold are one synchronous step.
    this.#held.set(topic, (this.#held.get(topic) ?? 0) + 1);
    let held = true;
    return {
      name: `${topic}:${partitionOf(record.key, layout.partitions)}`,
      release: () => {
        if (!held) return;
        held = false;
        this.#release(topic);
      },
    };
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
    const pending = this.#changes.get(topic);
    if (pending !== undefined) {
      pending.layout = layout;
      return;
    }
    if (before === undefined || before.partitions === layout.partitions) {
      this.#layouts.set(topic, layout);
      return;
    }
    this.#log.warn("topic partition count changed; new records wait for those in flight", {
      topic,
      before: before.partitions,
      now: layout.partitions,
    });
    // Leaders as read now serve the old lanes too (grouping only); the count waits.
    this.#layouts.set(topic, { ...before, leaders: layout.leaders, readAt: layout.readAt });
    let adopt: () => void = () => {};
    const adopted = new Promise<void>((resolve) => adopt = resolve);
    this.#changes.set(topic, { layout, adopted, adopt });
    if ((this.#held.get(topic) ?? 0) === 0) this.#adopt(topic);
  }

  #release(topic: string): void {
    const left = (this.#held.get(topic) ?? 1) - 1;
    if (left > 0) {
      this.#held.set(topic, left);
      return;
    }
    this.#held.delete(topic);
    this.#adopt(topic);
  }

  #adopt(topic: string): void {
    const change = this.#changes.get(topic);
    if (change === undefined) return;
    this.#changes.delete(topic);
    this.#layouts.set(topic, change.layout);
    change.adopt();
  }
}
