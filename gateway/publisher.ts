/**
 * The gateway's writes to Kafka: an idempotent producer (acks=all) behind a micro-batcher, with a
 * readiness flag that a failed send clears and a background probe restores when the cluster comes
 * back. How long a request waits for an acknowledgement is bounded by its caller
 * (`gateway/admission.ts`), so a slow acknowledgement never clears readiness. Each produce request
 * is timed in `despacho_kafka_produce_duration_seconds`.
 */
import { DespachoError } from "../lib/errors.ts";
import type { KafkaClient, OutRecord } from "../lib/kafka/mod.ts";
import type { Logger } from "../lib/log.ts";
import { kafkaProduceDuration } from "../lib/metrics.ts";
import { Batcher } from "./batcher.ts";

/** How often a gateway that lost Kafka asks whether it is back. */
const PROBE_INTERVAL_MS = 250;

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
 */
export function createKafkaPublisher(kafka: KafkaClient, log: Logger): KafkaPublisher {
  const producer = kafka.producer();
  let healthy = false;
  let probing: ReturnType<typeof setInterval> | undefined;
  const batcher = new Batcher<OutRecord>(async (records) => {
    const started = performance.now();
    let outcome = "error";
    try {
      await producer.send(records);
      outcome = "ok";
    } finally {
      kafkaProduceDuration.labels(outcome).observe((performance.now() - started) / 1000);
    }
  });

  function markUnhealthy(error: unknown): void {
    if (!healthy) return;
    healthy = false;
    log.warn("Kafka unavailable; answering 503 until it is back", { error });
    // Asked at once, then every 250 ms: one failed send (a broker killed mid-request, its
    // partitions not yet led elsewhere) must not refuse every request for a whole second when
    // the rest of the cluster answers.
    void probe();
    probing ??= setInterval(() => void probe(), PROBE_INTERVAL_MS);
  }

  let asking = false;
  async function probe(): Promise<void> {
    if (asking || healthy) return;
    asking = true;
    try {
      await kafka.ping();
      await producer.connect();
      healthy = true;
      clearInterval(probing);
      probing = undefined;
      log.info("Kafka reachable again");
    } catch {
      /* still down: the next tick tries again */
    } finally {
      asking = false;
    }
  }

  return {
    ready: () => healthy,
    async publish(record) {
      if (!healthy) {
        throw new DespachoError("KAFKA_UNAVAILABLE", "Cannot publish: Kafka is unreachable", {
          retriable: true,
        });
      }
      try {
        await batcher.push(record);
      } catch (error) {
        // A send that failed after the client's own retries: the connection is in doubt. A slow
        // acknowledgement is not this; the caller's wait is bounded outside (gateway/admission.ts).
        markUnhealthy(error);
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
      await producer.connect();
      healthy = true;
    },
    async stop() {
      clearInterval(probing);
      await producer.close().catch(() => {});
    },
  };
}
