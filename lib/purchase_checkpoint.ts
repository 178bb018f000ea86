/**
 * Restoring the purchase-analytics state from Kafka: the latest checkpoint of each input partition
 * (compacted topic `purchase_analytics_state`), validated, with the group's committed offsets it
 * must agree with.
 */
import type { KafkaClient } from "./kafka/interfaces.ts";
import { readLatestByKey, type ReadLatestOptions } from "./kafka/compacted.ts";
import { parseRecord } from "./kafka/records.ts";
import { type PurchaseCheckpoint, PurchaseCheckpointSchema } from "./purchase.ts";
import { checkpointKey } from "./purchase_analytics.ts";

/** Whose checkpoints, and where. */
export interface CheckpointSource {
  /** The role's consumer group. */
  groupId: string;
  /** The input topic whose partitions are checkpointed. */
  inputTopic: string;
  /** The compacted topic that holds the checkpoints. */
  stateTopic: string;
}

/** A latest checkpoint that could not be used. */
export interface SkippedCheckpoint {
  /** The input partition it was for. */
  partition: number;
  /** Where it lies in the state topic. */
  at: { partition: number; offset: string };
  reason: string;
}

/** What {@linkcode restoreCheckpoints} found. */
export interface RestoredCheckpoints {
  /** Per input partition, its latest checkpoint (when it has one that parses). */
  checkpoints: Map<number, PurchaseCheckpoint>;
  /** Per input partition, the group's committed offset: the next to read ("-1": none). */
  committed: Map<number, string>;
  /**
   * Latest checkpoints that do not parse. Their partition gets no checkpoint: an older one would
   * not match the committed offset either, so it is said, not guessed.
   */
  skipped: SkippedCheckpoint[];
}

/**
 * Reads the latest checkpoint of every input partition of `source.inputTopic` for
 * `source.groupId`, and the group's committed offsets.
 *
 * The offsets are read first: a checkpoint and its offset commit in one transaction, and the
 * checkpoint was written (below the state topic's high watermark) before that transaction began
 * to commit, so reading the state topic to the high watermark it has afterwards finds the
 * checkpoint of every offset seen (see {@linkcode readLatestByKey} for why that read is
 * complete).
 *
 * @param kafka The client.
 * @param source Group, input topic and state topic.
 * @param options Ceiling, progress and abort signal of the read.
 * @returns Checkpoints and committed offsets per input partition, and what was skipped.
 * @throws What {@linkcode readLatestByKey} throws: never an empty answer for a topic with data.
 */
export async function restoreCheckpoints(
  kafka: Pick<KafkaClient, "endOffsets" | "readRange" | "groupOffsets">,
  source: CheckpointSource,
  options: ReadLatestOptions,
): Promise<RestoredCheckpoints> {
  const committed = new Map(
    (await kafka.groupOffsets(source.groupId, source.inputTopic)).map((p) => [
      p.partition,
      p.offset,
    ]),
  );
  const latest = await readLatestByKey(kafka, source.stateTopic, options);
  const prefix = checkpointKey(source.groupId, source.inputTopic, 0).slice(0, -1);
  const checkpoints = new Map<number, PurchaseCheckpoint>();
  const skipped: SkippedCheckpoint[] = [];
  for (const [key, record] of latest) {
    const suffix = key.startsWith(prefix) ? key.slice(prefix.length) : "";
    if (!/^\d+$/.test(suffix)) continue; // another group's or topic's checkpoint
    const partition = Number(suffix);
    const at = { partition: record.partition, offset: record.offset };
    const parsed = parseRecord(record.value, PurchaseCheckpointSchema);
    if (!parsed.ok) {
      skipped.push({ partition, at, reason: parsed.reason });
    } else if (
      parsed.value.topic !== source.inputTopic || parsed.value.partition !== partition
    ) {
      skipped.push({
        partition,
        at,
        reason: `Cannot use checkpoint: it is keyed ${key} but describes ` +
          `${parsed.value.topic}/${parsed.value.partition}`,
      });
    } else {
      checkpoints.set(partition, parsed.value);
    }
  }
  return { checkpoints, committed, skipped };
}
