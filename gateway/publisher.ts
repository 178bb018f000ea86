/**
 * The gateway's writes to Kafka: an idempotent producer (acks=all) behind a micro-batcher, with a
 * readiness flag: after a failed send the cluster is asked at once, readiness is cleared only when
 * it does not answer, and a background probe restores it when the cluster comes back. How long a
 * request waits for an acknowledgement is bounded by its caller (`gateway/admission.ts`), so a slow
 * acknowledgement never clears readiness. Each produce request is timed in
 * `despacho_kafka_produce_duration_seconds`.
 *
 * The batcher's lanes are partitions and its groups the brokers leading them
 * (`gateway/partition_lanes.ts`): a send waiting for a new leader of one partition (its broker
 * killed) holds only that partition's records, while the other partitions' records go out and are
 * acknowledged. One send per partition at a time, its records in arrival order, is what both
 * clients' idempotent producers need to keep their sequence numbers right: kafkajs rolls a
 * partition's sequence back when a request fails, so a second request in flight to that partition
 * could take the first's numbers (and be taken for its duplicate); `@platformatic/kafka` numbers a
 * send when it starts and, after a failure, re-sends a later one under a new producer id. And each
 * send has a producer of its own (`gateway/producer_pool.ts`), as a producer's state is shared by
 * all its partitions. Partitions led by one broker share a send (a produce request goes to one
 * broker anyway), so under load a send still carries many records (`bench/publisher_cpu.ts`).
 *
 * Each record is sent to the partition its lane stands for (`OutRecord.partition`), computed with
 * the partition count the lanes last read. When partitions are added, the new count is adopted at
 * once: for a short window a key's records routed by the old count may still be in flight on its
 * old partition while later ones go to its new one. A producer whose metadata does not list a
 * record's partition yet reads it again before sending, and fails the send if still short (both
 * adapters: `lib/kafka/kafkajs/producer.ts`, `lib/kafka/platformatic/producer.ts`), so a record is
 * never written to another partition than its lane's. Order per key across the change is what
 * Kafka itself gives a producer when partitions are added: none promised. While the count stays
 * the same, a key's records are written in arrival order.
 *
 * Readiness: the probe's `ping` is given {@linkcode PublisherOptions.pingTimeoutMs}; silence is a
 * no, so in a full outage readiness clears within that time and requests are refused at once
 * instead of each waiting for its acknowledgement timeout.
 */
import { DespachoError } from "../lib/errors.ts";
import type { KafkaClient, OutRecord } from "../lib/kafka/mod.ts";
import type { Logger } from "../lib/log.ts";
import { kafkaProduceDuration } from "../lib/metrics.ts";
import { Batcher } from "./batcher.ts";
import { PartitionLanes } from "./partition_lanes.ts";
import { ProducerPool } from "./producer_pool.ts";

/** How often a gateway that lost Kafka asks whether it is back. */
const PROBE_INTERVAL_MS = 250;
/**
 * Sends in flight at most, each with a producer of its own (`gateway/producer_pool.ts`: so as many
 * producers, each with a connection per broker, at most). One per partition at most anyway; this
 * bounds them should the topics have many partitions, and leaves room beside the sends stuck on a
 * killed broker's partitions for one per live broker. `docs/guarantees.md` quotes it by name.
 */
export const MAX_SENDS_IN_FLIGHT = 16;
/** A send slower than this hints that leadership moved: the topics' leaders are read again. */
const SLOW_SEND_MS = 1000;
/** What a record not yet sent when the publisher stops is refused with (a 503). */
function stoppingError(): DespachoError {
  return new DespachoError("KAFKA_UNAVAILABLE", "Cannot publish: the gateway is stopping", {
    retriable: true,
  });
}

/** A record, with the partition it goes to set, and its lane, `topic:partition`. */
interface Routed {
  record: OutRecord;
  lane: string;
}

/** Timers the publisher's probe uses; tests pass controlled ones. */
export interface Timers {
  /** Calls `fn` once after `ms`; returns what cancels it. */
  after(ms: number, fn: () => void): () => void;
  /** Calls `fn` every `ms`; returns what stops it. */
  every(ms: number, fn: () => void): () => void;
}

/** The runtime's timers. */
const realTimers: Timers = {
  after(ms, fn) {
    const id = setTimeout(fn, ms);
    return () => clearTimeout(id);
  },
  every(ms, fn) {
    const id = setInterval(fn, ms);
    return () => clearInterval(id);
  },
};

/** Options of {@linkcode createKafkaPublisher}. */
export interface PublisherOptions {
  /**
   * How long the probe waits for `kafka.ping()`: no answer by then counts as Kafka unavailable.
   *
   * @default 1000
   */
  pingTimeoutMs?: number;
  /** @default the runtime's setTimeout and setInterval */
  timers?: Timers;
  /** The clock the lanes date their reads of leaders with. @default Date.now */
  now?: () => number;
}

/** What the HTTP layer needs from Kafka. */
export interface Publisher {
  /**
   * Resolves once Kafka acknowledged `record` (acks=all); may take as long as the client retries.
   *
   * @throws {DespachoError} `KAFKA_UNAVAILABLE` (retriable) when not ready or the send failed.
   */
  publish(record: OutRecord): Promise<void>;
  /** Whether writes are expected to succeed now. */
  ready(): boolean;
}

/** A {@linkcode Publisher} on a real Kafka cluster. */
export interface KafkaPublisher extends Publisher {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Creates the Kafka publisher.
 *
 * @param kafka The Kafka client.
 * @param log Logger.
 * @param options The probe's ping timeout and timers.
 */
export function createKafkaPublisher(
  kafka: KafkaClient,
  log: Logger,
  options: PublisherOptions = {},
): KafkaPublisher {
  const { pingTimeoutMs = 1000, timers = realTimers, now = Date.now } = options;
  const producers = new ProducerPool(() => kafka.producer(), MAX_SENDS_IN_FLIGHT);
  let healthy = false;
  /** Set by stop(): nothing is sent, probed or scheduled after. */
  let stopped = false;
  /** Stops the probe's interval while one runs. */
  let stopProbing: (() => void) | undefined;
  const lanes = new PartitionLanes((topic) => kafka.describeTopic(topic), log, now);
  const batcher = new Batcher<Routed>(async (routed) => {
    const started = performance.now();
    let outcome = "error";
    try {
      await producers.use((producer) => producer.send(routed.map((r) => r.record)));
      outcome = "ok";
    } finally {
      const seconds = (performance.now() - started) / 1000;
      kafkaProduceDuration.labels(outcome).observe(seconds);
      if (!stopped && (outcome === "error" || seconds * 1000 >= SLOW_SEND_MS)) {
        for (const topic of new Set(routed.map((r) => r.record.topic))) lanes.refresh(topic);
      }
    }
  }, {
    laneOf: (r) => r.lane,
    groupOf: (lane) => lanes.groupOf(lane),
    maxInFlight: MAX_SENDS_IN_FLIGHT,
  });

  /**
   * After a failed send: one partition's leader may be gone while the rest of the cluster takes
   * writes, so Kafka is asked at once, and requests are refused only if it does not answer.
   */
  function sendFailed(error: unknown): void {
    if (!healthy || asking || stopped) return;
    log.warn("Kafka send failed; asking whether the cluster answers", { error });
    void probe();
  }

  let asking = false;
  /** Asks whether Kafka answers; readiness follows the answer. */
  async function probe(): Promise<void> {
    if (asking || stopped) return;
    asking = true;
    try {
      await pingWithin(pingTimeoutMs);
      await producers.connect();
      if (!healthy && !stopped) {
        healthy = true;
        stopProbing?.();
        stopProbing = undefined;
        log.info("Kafka reachable again");
      }
    } catch (error) {
      // Stopped while asking: nothing may start an interval that no one would stop.
      if (healthy && !stopped) {
        healthy = false;
        log.warn("Kafka unavailable; answering 503 until it is back", { error });
        stopProbing ??= timers.every(PROBE_INTERVAL_MS, () => void probe());
      }
    } finally {
      asking = false;
    }
  }

  /** `kafka.ping()`, failed when it has not answered within `ms`. */
  function pingWithin(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const cancel = timers.after(ms, () => {
        reject(
          new DespachoError(
            "KAFKA_UNAVAILABLE",
            `Cannot reach Kafka: no answer to a ping within ${ms} ms`,
            { retriable: true },
          ),
        );
      });
      kafka.ping().then(resolve, reject).finally(cancel);
    });
  }

  return {
    ready: () => healthy,
    async publish(record) {
      if (stopped) throw stoppingError();
      if (!healthy) {
        throw new DespachoError("KAFKA_UNAVAILABLE", "Cannot publish: Kafka is unreachable", {
          retriable: true,
        });
      }
      try {
        const lane = lanes.routeNow(record) ?? await lanes.route(record);
        await batcher.push({ record: { ...record, partition: lane.partition }, lane: lane.name });
      } catch (error) {
        // A send that failed after the client's own retries: the cluster is in doubt. A slow
        // acknowledgement is not this; the caller's wait is bounded outside (gateway/admission.ts).
        sendFailed(error);
        if (error instanceof DespachoError) throw error;
        throw new DespachoError(
          "KAFKA_UNAVAILABLE",
          `Cannot publish: ${(error as Error).message}`,
          {
            retriable: true,
            cause: error,
          },
        );
      }
    },
    async start() {
      await producers.connect();
      healthy = true;
    },
    async stop() {
      stopped = true;
      healthy = false;
      stopProbing?.();
      stopProbing = undefined;
      // Records not yet sent are refused (503); sends in flight end as their producers close.
      batcher.close(stoppingError());
      await producers.close();
    },
  };
}
