/**
 * Reading state kept in Kafka: the latest record per key of a compacted topic, every partition read
 * to its end, however long a slow broker takes, and never an empty answer for a topic that has
 * data.
 */
import { waitFor } from "../wait.ts";
import type { KafkaClient } from "./interfaces.ts";
import type { InRecord } from "./records.ts";

/** Options of {@linkcode readLatestByKey}. */
export interface ReadLatestOptions {
  /** Longest wait for every partition to be read to its end, in ms. */
  timeoutMs: number;
  /** Progress while it takes long (what is read so far). @default nothing is said */
  say?: (line: string) => void;
  /** Ends the read early, rejecting with the signal's reason. */
  signal?: AbortSignal;
  /** @default Date.now */
  now?: () => number;
  /** @default an abortable setTimeout */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * The latest record per key of every partition of `topic`, read_committed.
 *
 * The end: each partition is read from its first offset to the high watermark it had when the call
 * began (`endOffsets`). Every record committed before the call lies below it. A read_committed
 * reader never delivers the transaction markers and aborted records that may fill the last
 * offsets, so "the last record delivered" cannot tell the end; `readRange` ends on the reader's
 * position instead, which moves past those offsets too, and only once every transaction with a
 * record below the high watermark has ended. So when it resolves, every committed record below
 * the high watermark has been delivered, whatever the tail holds. Records written after the call
 * began are not waited for: the caller reads state that nobody else writes meanwhile (a role
 * restoring partitions it was just assigned).
 *
 * @param kafka The client (`endOffsets` and `readRange` only).
 * @param topic A compacted topic.
 * @param options Ceiling, progress, abort signal and clock.
 * @returns Key → its latest record; a key whose latest record is a tombstone (null value) or that
 * has no key is absent. Should a key appear in two partitions (the topic grew), the later
 * timestamp wins.
 * @throws {WaitTimeoutError} When a partition is not read to its end within `timeoutMs`.
 * @throws What `readRange` or `endOffsets` throws, and the signal's reason when it aborts.
 *
 * @example
 * ```ts ignore
 * const latest = await readLatestByKey(kafka, "purchase_analytics_state", { timeoutMs: 600_000 });
 * ```
 */
export async function readLatestByKey(
  kafka: Pick<KafkaClient, "endOffsets" | "readRange">,
  topic: string,
  options: ReadLatestOptions,
): Promise<Map<string, InRecord>> {
  const latest = new Map<string, InRecord>();
  const ends = (await kafka.endOffsets(topic)).filter((e) => BigInt(e.high) > BigInt(e.low));
  if (ends.length === 0) return latest;
  const reading = new AbortController();
  const stop = () => reading.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", stop, { once: true });
  let read = 0;
  let records = 0;
  let failure: Error | null = null;
  const take = (batch: readonly InRecord[]) => {
    for (const r of batch) {
      records++;
      if (r.key === null) continue;
      const known = latest.get(r.key);
      if (known && known.partition !== r.partition && known.timestamp > r.timestamp) continue;
      latest.set(r.key, r);
    }
  };
  for (const e of ends) {
    kafka.readRange(topic, e.partition, e.low, e.high, take, reading.signal).then(
      () => void read++,
      (error) => void (failure ??= error instanceof Error ? error : new Error(String(error))),
    );
  }
  try {
    await waitFor(
      `${topic} to be read to its end (${ends.length} partitions)`,
      () =>
        Promise.resolve(
          failure !== null
            ? { ready: false, fatal: failure }
            : read === ends.length
            ? { ready: true, value: undefined }
            : {
              ready: false,
              why: `${read} of ${ends.length} partitions read, ${records} records`,
            },
        ),
      {
        timeoutMs: options.timeoutMs,
        intervalMs: 25,
        ...(options.say ? { say: options.say } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.now ? { now: options.now } : {}),
        ...(options.sleep ? { sleep: options.sleep } : {}),
      },
    );
  } finally {
    // On a failure or the ceiling, the other partitions' reads end too.
    stop();
    options.signal?.removeEventListener("abort", stop);
  }
  for (const [key, r] of latest) if (r.value === null) latest.delete(key);
  return latest;
}
