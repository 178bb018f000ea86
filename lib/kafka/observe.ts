/**
 * What the seam reports about a role, whichever client runs it: the input records it has handled
 * (counted as their commits succeed, by topic) and its consumer lag per partition (the partition's
 * end offset minus the group's committed offset, read through the seam every few seconds).
 */
import type { Logger } from "../log.ts";
import { consumerLag, recordsHandled } from "../metrics.ts";
import type { BatchContext, BatchHandler, KafkaClient, PartitionEnds } from "./interfaces.ts";

/**
 * Wraps a role's batch handler so that each successful `ctx.commit` counts the batch's records up
 * to the committed offset in `despacho_records_handled_total{group,topic}`.
 *
 * @param group The consumer group, for the `group` label.
 * @param handle The role's handler.
 * @returns The same handler, counting.
 */
export function countHandled(group: string, handle: BatchHandler): BatchHandler {
  return function countingHandler(batch, ctx) {
    const counter = recordsHandled.labels(group, batch.topic);
    let next = 0; // index of the first record not counted yet (records are in offset order)
    const counting: BatchContext = {
      signal: ctx.signal,
      heartbeat: () => ctx.heartbeat(),
      async commit(records, offset) {
        await ctx.commit(records, offset);
        const upTo = BigInt(offset);
        const from = next;
        while (next < batch.records.length && BigInt(batch.records[next]!.offset) <= upTo) next++;
        if (next > from) counter.inc(next - from);
      },
    };
    return handle(batch, counting);
  };
}

/**
 * Lag per partition: records after the committed offset. A partition the group has committed
 * nothing on yet counts everything it still holds (`high − low`).
 *
 * @param ends Each partition's first and next offsets.
 * @param committed The group's committed offsets (`-1`: none).
 * @returns Lag by partition, never negative.
 *
 * @example
 * ```ts
 * import { lagOf } from "./observe.ts";
 * lagOf([{ partition: 0, low: "0", high: "10" }], [{ partition: 0, offset: "7" }]);
 * // [{ partition: 0, lag: 3 }]
 * ```
 */
export function lagOf(
  ends: readonly PartitionEnds[],
  committed: readonly { partition: number; offset: string }[],
): { partition: number; lag: number }[] {
  const at = new Map(committed.map((c) => [c.partition, BigInt(c.offset)]));
  return ends.map((e) => {
    const high = BigInt(e.high);
    const c = at.get(e.partition) ?? -1n;
    const from = c < 0n ? BigInt(e.low) : c;
    return { partition: e.partition, lag: Number(high > from ? high - from : 0n) };
  });
}

/** Options of {@linkcode watchLag}. */
export interface WatchLagOptions {
  kafka: KafkaClient;
  group: string;
  topics: readonly string[];
  /** Time between two readings. @default 5000 */
  intervalMs?: number;
  log: Logger;
  signal: AbortSignal;
}

/**
 * Sets `despacho_consumer_lag{group,topic,partition}` now and every `intervalMs` until `signal`
 * aborts. A reading that fails (broker away) leaves the last values and is logged once per run of
 * failures.
 *
 * @param options The client, the group and its topics, the interval, the stop signal.
 * @returns Resolves once stopped.
 */
export async function watchLag(options: WatchLagOptions): Promise<void> {
  const { kafka, group, topics, log, signal } = options;
  let failing = false;
  while (!signal.aborted) {
    try {
      for (const topic of topics) {
        const [ends, committed] = await Promise.all([
          kafka.endOffsets(topic),
          kafka.groupOffsets(group, topic),
        ]);
        for (const { partition, lag } of lagOf(ends, committed)) {
          consumerLag.labels(group, topic, String(partition)).set(lag);
        }
      }
      failing = false;
    } catch (error) {
      if (!failing) log.warn("cannot read the consumer lag; keeping the last values", { error });
      failing = true;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, options.intervalMs ?? 5_000);
      signal.addEventListener("abort", done, { once: true });
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
    });
  }
}
