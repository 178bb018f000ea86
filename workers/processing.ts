/**
 * `worker --role processing`: moves each order through recibido → preparando → entregando →
 * finalizado, publishing every transition to `order_processing` keyed by order id.
 *
 * It reads `order_requests` (new orders) and its own `order_processing` (transitions that still
 * owe a next step, `next.dueAt`), so a pending step survives any crash: it is a record in Kafka,
 * not a timer in memory. Each decision's transitions and the input offset commit in one Kafka
 * transaction (lib/kafka).
 *
 * One order per id: a second request record for an order already taken (a gateway retry after a
 * 503 that had been written after all, the same Idempotency-Key on another gateway) is recorded on
 * the dead-letter topic as a duplicate, with no transitions and so no mail. Which orders were taken
 * is rebuilt from Kafka after every assignment (`TakenOrders`).
 *
 * Erasure (staff's `DELETE /orders/{id}`; lib/erasures.ts): an order in flight is cancelled where
 * it stood, with no further transition and so no further mail. The role reads `order_erasures` as
 * a third input: for each request it publishes `OrderErased` to `order_processing`, keyed by the
 * order id, so in the order's partition it sits after every transition published before it. Met
 * there, it becomes the status topic's step tombstones and the `{id}/erased` marker (the role
 * writes the step keys; notification tombstones its mail keys). A transition of an erased order
 * gets no successor, only the step tombstones again; a request of one, nothing. The records
 * already in the non-compacted topics stay until their `retention.ms`; every reader ignores them.
 *
 * Why no step can outlive the erasure: a transition is published after `OrderErased` in its
 * partition only by an instance that did not know the id yet (it decided on the transition before
 * and published in a race). Whoever reads that partition later knows the id: the instance that
 * handled `OrderErased` added it; an instance that takes the partition over learns every erasure
 * requested so far before it decides on it (`ErasedOrders.caughtUpNow` on assignment), and the
 * request was written before `OrderErased` existed. So the late step is read by someone who knows,
 * who tombstones it again and publishes no successor. The set is loaded from the whole topic
 * before the loop starts and follows it while the role runs.
 *
 * Tracing: each decision that publishes is a hop (a `process <topic>` span) continuing the
 * `traceparent` of the record it answers, and every transition it publishes carries the hop's, so
 * an order's transitions stay in the trace its `POST` began.
 */
import type { z } from "zod";
import {
  type BatchContext,
  deadLetterRecord,
  type InBatch,
  type InRecord,
  type KafkaClient,
  type Outgoing,
  type OutRecord,
  parseRecordId,
} from "../lib/kafka/mod.ts";
import type { Logger } from "../lib/log.ts";
import { deadLetters } from "../lib/metrics.ts";
import { kafkaAttributes, startHop, traceIdOf, TRACEPARENT } from "../lib/tracing.ts";
import { stepRecord } from "../lib/order_status.ts";
import {
  OrderErasureRequestedSchema,
  OrderProcessingEventSchema,
  type OrderRequested,
  OrderRequestedSchema,
  type OrderTransition,
} from "../lib/order.ts";
import { ErasedOrders } from "../lib/erasures.ts";
import {
  advanceOrder,
  eraseFirst,
  type ErasureStep,
  MAX_TAKEN_IDS,
  type ProcessingInput,
  TakenOrders,
} from "../lib/processing.ts";
import { sleepUntil } from "../lib/wait.ts";
import { parseOrDeadLetter } from "./_parse.ts";
import { instanceId, onAbort, type RoleContext, type RoleIdentity } from "./role.ts";

/**
 * The processing role's consumer group and input topics: new orders, its own due steps, and the
 * erasures it honours.
 */
export function identity(config: RoleContext["config"]): RoleIdentity {
  return {
    groupId: `${config.GROUP_ID_PREFIX}-processing`,
    topics: [
      config.TOPIC_ORDER_REQUESTS,
      config.TOPIC_ORDER_PROCESSING,
      config.TOPIC_ORDER_ERASURES,
    ],
  };
}

/**
 * Runs the processing role until `ctx.signal` aborts.
 *
 * @param ctx Configuration, logger, Kafka client and stop signal.
 */
export async function run({ config, log, kafka, signal }: RoleContext): Promise<void> {
  const { groupId, topics: inputs } = identity(config);
  const taken = new TakenPerPartition(kafka, groupId, config, log);
  // Every erasure requested so far, before the loop decides anything (see the header).
  const erased = ErasedOrders.of(kafka, config, log);
  await erased.start();
  const deciding: Deciding = { config, erased, log };
  const loop = kafka.runTransactional({
    log,
    groupId,
    // Partitions may have been someone else's in between: rebuild what was taken from Kafka, and
    // learn every erasure requested up to now before deciding on them.
    onAssign: () => {
      taken.clear();
      erased.assigned();
    },
    // Under the group's name, as the ACLs grant it (`<group>-` prefixed).
    transactionalId: `${groupId}-${instanceId(config)}`,
    instanceId: `processing-${instanceId(config)}`,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    topics: inputs,
    handle: async (batch, ctx) => {
      await erased.settled();
      const requests = batch.topic === config.TOPIC_ORDER_REQUESTS;
      const seen = requests ? await taken.of(batch.partition) : null;
      try {
        await new BatchDecision(batch, ctx, seen, deciding).decide();
      } catch (error) {
        // The set already holds this batch's orders, and the batch will be read again.
        if (requests) taken.forget(batch.partition);
        throw error;
      }
      if (ctx.signal.aborted && requests) taken.forget(batch.partition);
    },
  });
  const forget = onAbort(signal, () => void loop.stop());
  try {
    await loop.ready;
    log.info("processing orders", { dwellMs: config.STAGE_DWELL_MS, topics: inputs });
    await loop.done;
  } finally {
    forget();
    // After a failure too: leave the group and close the producer before a restart.
    await loop.stop();
    await erased.stop();
  }
}

/** Per partition of `order_requests`: the orders taken, rebuilt from Kafka when first needed. */
class TakenPerPartition {
  #taken = new Map<number, Promise<TakenOrders>>();
  #kafka: KafkaClient;
  #groupId: string;
  #config: Pick<RoleContext["config"], "TOPIC_ORDER_REQUESTS" | "ORDER_DEDUPE_WINDOW_MS">;
  #log: Logger;

  constructor(
    kafka: KafkaClient,
    groupId: string,
    config: Pick<RoleContext["config"], "TOPIC_ORDER_REQUESTS" | "ORDER_DEDUPE_WINDOW_MS">,
    log: Logger,
  ) {
    this.#kafka = kafka;
    this.#groupId = groupId;
    this.#config = config;
    this.#log = log;
  }

  /** The orders `partition` has taken, read from Kafka the first time it is asked for. */
  of(partition: number): Promise<TakenOrders> {
    let t = this.#taken.get(partition);
    if (t === undefined) {
      t = restoreTaken(
        this.#kafka,
        { groupId: this.#groupId, topic: this.#config.TOPIC_ORDER_REQUESTS, partition },
        this.#config.ORDER_DEDUPE_WINDOW_MS,
        this.#log,
      );
      this.#taken.set(partition, t);
      t.catch(() => this.#taken.delete(partition));
    }
    return t;
  }

  /** Forgets what `partition` took: it is rebuilt from Kafka when next asked for. */
  forget(partition: number): void {
    this.#taken.delete(partition);
  }

  /** Forgets every partition's. */
  clear(): void {
    this.#taken.clear();
  }
}

/** What {@linkcode advanceOrder} decides on: a new order, or a transition owing a step. */
type Advanceable = OrderRequested | OrderTransition;

/** What every batch's decision needs from the role. */
interface Deciding {
  config: RoleContext["config"];
  erased: ErasedOrders;
  log: Logger;
}

/**
 * The decision on one batch: each record's transitions, erasure records, dead letters or nothing,
 * committed with the offset decided up to; before a wait on a due step, what is decided so far is
 * committed, so a wait never holds a transaction open.
 */
class BatchDecision {
  #out: Outgoing[] = [];
  #decidedUpTo: string | null = null;
  #batch: InBatch;
  #ctx: BatchContext;
  #seen: TakenOrders | null;
  #d: Deciding;
  #topics: { processing: string; status: string };

  /**
   * @param batch The records read.
   * @param ctx Commit, and the partition's revocation signal.
   * @param seen The orders taken, for a batch of `order_requests`; null otherwise.
   * @param d The role's configuration, erased orders and logger.
   */
  constructor(batch: InBatch, ctx: BatchContext, seen: TakenOrders | null, d: Deciding) {
    this.#batch = batch;
    this.#ctx = ctx;
    this.#seen = seen;
    this.#d = d;
    this.#topics = {
      processing: d.config.TOPIC_ORDER_PROCESSING,
      status: d.config.TOPIC_ORDER_STATUS,
    };
  }

  /** Decides every record of the batch and commits; stops early when the partition is revoked. */
  async decide(): Promise<void> {
    const { config, log } = this.#d;
    const topic = this.#batch.topic;
    const schema: z.ZodType<ProcessingInput> = topic === config.TOPIC_ORDER_REQUESTS
      ? OrderRequestedSchema
      : topic === config.TOPIC_ORDER_ERASURES
      ? OrderErasureRequestedSchema
      : OrderProcessingEventSchema;
    for (const record of this.#batch.records) {
      const input = parseOrDeadLetter(record, schema, config.TOPIC_DEAD_LETTER, log);
      if (!input.ok) {
        this.#decided(record.offset, input.letter);
        continue;
      }
      // Before the duplicate check: an erased order's request is not copied to dead letters.
      const step = this.#erasureFirst(input.value);
      if (this.#erase(step, record.offset) || step.kind !== "advance") continue;
      if (this.#seen !== null && !this.#seen.take(input.value.id, record.timestamp)) {
        this.#duplicate(record, input.value.id);
        continue;
      }
      if (!await this.#advance(record, step.input)) return;
    }
    await this.#flush();
  }

  /**
   * Publishes the transitions due for the order `input` is about, waiting for a step not due yet.
   *
   * @returns false when the partition was revoked (or the role stopped) while it waited.
   */
  async #advance(record: InRecord, input: Advanceable): Promise<boolean> {
    for (;;) {
      const decision = advanceOrder(input, new Date(), this.#d.config.STAGE_DWELL_MS);
      if (decision.kind === "wait") {
        // Due times grow with offsets in a partition, so waiting on the head is no loss.
        await this.#flush();
        if (!await sleepUntil(decision.until, this.#ctx.signal)) return false;
        // Erased while it waited: cancelled where it stood.
        const step = this.#erasureFirst(input);
        if (this.#erase(step, record.offset) || step.kind !== "advance") return true;
        continue;
      }
      this.#decided(
        record.offset,
        ...(decision.kind === "emit" ? this.#transitions(record, decision.transitions) : []),
      );
      return true;
    }
  }

  /** The transitions and their status records, one hop of the order's trace. */
  #transitions(record: InRecord, transitions: readonly OrderTransition[]): Outgoing[] {
    const { processing, status } = this.#topics;
    const hop = startHop(`process ${record.topic}`, {
      parent: record.headers[TRACEPARENT],
      kind: "consumer",
      attributes: {
        ...kafkaAttributes("process", record.topic, record),
        "despacho.order.id": transitions[0]!.id,
        "despacho.order.states": transitions.map((t) => t.state).join(","),
      },
    });
    const headers = { [TRACEPARENT]: hop.traceparent };
    const out: Outgoing[] = [];
    for (const t of transitions) {
      out.push({ topic: processing, key: t.id, value: JSON.stringify(t), headers });
      // The order's lasting status, in the same transaction as the transition.
      out.push({ ...stepRecord(status, t, traceIdOf(hop.traceparent)), headers });
    }
    hop.end();
    return out;
  }

  #erasureFirst(input: ProcessingInput): ErasureStep {
    const erased = this.#d.erased;
    return eraseFirst(input, (id) => erased.has(id), new Date(), this.#topics);
  }

  /** An erasure's records instead of any transition; false when the order is not erased. */
  #erase(step: ErasureStep, offset: string): boolean {
    if (step.kind !== "erase") return false;
    const erased = this.#d.erased;
    if (!erased.has(step.erased)) this.#d.log.info("order erased", { id: step.erased });
    erased.add(step.erased);
    this.#decided(offset, ...step.records);
    return true;
  }

  #duplicate(record: InRecord, id: string): void {
    this.#d.log.warn("duplicate request: the order was already taken", {
      id,
      partition: record.partition,
      offset: record.offset,
    });
    deadLetters.labels(record.topic, "duplicate").inc();
    this.#decided(record.offset, duplicateRecord(this.#d.config.TOPIC_DEAD_LETTER, record, id));
  }

  /** Records to publish, and the input decided up to `offset`. */
  #decided(offset: string, ...records: Outgoing[]): void {
    this.#out.push(...records);
    this.#decidedUpTo = offset;
  }

  /** Commits what is decided so far, in one transaction with the offset. */
  async #flush(): Promise<void> {
    if (this.#decidedUpTo !== null) await this.#ctx.commit(this.#out, this.#decidedUpTo);
    this.#out = [];
    this.#decidedUpTo = null;
  }
}

/** The record of a duplicate request on the dead-letter topic: recorded, never processed. */
function duplicateRecord(topic: string, record: InRecord, id: string): OutRecord {
  return deadLetterRecord(
    topic,
    record,
    `Cannot take request: order ${id} was already taken (a duplicate request)`,
  );
}

/**
 * The orders a partition of `order_requests` took within the window: every request before the
 * group's committed offset was decided, so reading from `windowMs` ago up to it rebuilds the set.
 */
async function restoreTaken(
  kafka: KafkaClient,
  where: { groupId: string; topic: string; partition: number },
  windowMs: number,
  log: Logger,
): Promise<TakenOrders> {
  const taken = new TakenOrders(windowMs, {
    onFull: () =>
      log.warn(
        "orders taken past the most one partition remembers: the oldest are forgotten before ORDER_DEDUPE_WINDOW_MS ends (a retry that old would be a new order); shorten the window or add partitions",
        { partition: where.partition, maxIds: MAX_TAKEN_IDS, windowMs },
      ),
  });
  const committed = (await kafka.groupOffsets(where.groupId, where.topic))
    .find((p) => p.partition === where.partition)?.offset ?? "-1";
  if (BigInt(committed) <= 0n) return taken;
  const from = (await kafka.offsetsAtTime(where.topic, Date.now() - windowMs))
    .find((p) => p.partition === where.partition)?.offset ?? "0";
  if (BigInt(from) >= BigInt(committed)) return taken;
  const started = Date.now();
  await kafka.readRange(where.topic, where.partition, from, committed, (records) => {
    for (const r of records) {
      const id = parseRecordId(r.value); // null: a record that was dead-lettered
      if (id !== null) taken.take(id, r.timestamp);
    }
  });
  log.info("rebuilt the orders taken", {
    partition: where.partition,
    orders: taken.size,
    from,
    to: committed,
    ms: Date.now() - started,
  });
  return taken;
}
