/**
 * `worker --role purchase-analytics`: the second seed's stream. Drops nothing silently: every
 * event is classified (visit, short or long purchase), every purchase gets its notification
 * (console by default, mail when `SMTP_URL` is set, and always a record in
 * `purchase_notifications`), and every event lands in a tumbling event-time window whose
 * statistics are published to `purchase_analytics` when it closes.
 *
 * Exactly once across crashes: per input partition, the window state and totals are checkpointed
 * to the compacted `purchase_analytics_state` topic in the same Kafka transaction as the batch's
 * notifications, closed windows and input offset. After a restart (or any reassignment) the role
 * restores the latest checkpoint and resumes from the committed offset, which is exactly the
 * position that checkpoint describes. Console output and mail are at least once.
 */
import process from "node:process";
import type { Config } from "../lib/config.ts";
import { type KafkaClient, lastOffset, type OutRecord } from "../lib/kafka/mod.ts";
import type { Logger } from "../lib/log.ts";
import {
  classifyPurchase,
  purchaseMessage,
  type PurchaseNotified,
  PurchaseSchema,
} from "../lib/purchase.ts";
import {
  type AnalyticsState,
  applyEvent,
  emptyState,
  flushWindows,
  reportOf,
  type WindowState,
} from "../lib/windows.ts";
import { parseOrDeadLetter } from "./_parse.ts";
import { createMailer, type Mailer } from "./mailer.ts";
import { instanceId, onAbort, type RoleContext } from "./role.ts";

interface PartitionState {
  key: string;
  partition: number;
  state: AnalyticsState;
  /** Wall-clock time of the last event, for the idle flush. */
  lastEventAt: number;
  busy: boolean;
}

/**
 * Runs the purchase-analytics role until `ctx.signal` aborts.
 *
 * @param ctx Configuration, logger, Kafka client and stop signal.
 */
export async function run({ config, log, kafka, signal }: RoleContext): Promise<void> {
  const groupId = `${config.GROUP_ID_PREFIX}-purchase-analytics`;
  const windowOptions = {
    sizeMs: config.ANALYTICS_WINDOW_MS,
    latenessMs: config.ANALYTICS_LATENESS_MS,
  };
  const mailer = config.SMTP_URL === undefined ? null : await createMailer(config, log);
  const partitions = new Map<number, PartitionState>();
  let checkpoints: Promise<Map<string, AnalyticsState>> | null = null;

  const records = (p: PartitionState, closed: readonly WindowState[]): OutRecord[] => [
    ...closed.map((w) => windowRecord(config, p.partition, w)),
    totalsRecord(config, p),
    {
      topic: config.TOPIC_PURCHASE_STATE,
      key: p.key,
      value: JSON.stringify({ v: 1, state: p.state }),
    },
  ];

  /** Drops a partition's state that holds uncommitted work; the next batch restores the checkpoint. */
  const forget = (p: PartitionState) => {
    if (partitions.get(p.partition) === p) partitions.delete(p.partition);
    checkpoints = null;
  };

  const loop = kafka.runTransactional({
    log,
    groupId,
    transactionalId: `${groupId}-${instanceId(config)}`,
    instanceId: `purchase-analytics-${instanceId(config)}`,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    topics: [config.TOPIC_PURCHASES],
    // State held for partitions may belong to another instance now: restore again on next use.
    onAssign: () => {
      partitions.clear();
      checkpoints = null;
    },
    handle: async (batch, ctx) => {
      checkpoints ??= readCheckpoints(kafka, config.TOPIC_PURCHASE_STATE, log);
      const key = `${groupId}/${batch.topic}/${batch.partition}`;
      let p = partitions.get(batch.partition);
      if (p === undefined) {
        const restored = (await checkpoints).get(key);
        p = {
          key,
          partition: batch.partition,
          state: restored ?? emptyState(),
          lastEventAt: Date.now(),
          busy: false,
        };
        partitions.set(batch.partition, p);
        if (restored) {
          log.info("restored window state", {
            partition: batch.partition,
            totals: restored.totals.events,
          });
        }
      }
      p.busy = true;
      try {
        const out: OutRecord[] = [];
        const closed: WindowState[] = [];
        const mails: Promise<void>[] = [];
        for (const record of batch.records) {
          const parsed = parseOrDeadLetter(record, PurchaseSchema, config.TOPIC_DEAD_LETTER, log);
          if (!parsed.ok) {
            p.state.invalid++;
            out.push(parsed.letter);
            continue;
          }
          const event = parsed.value;
          const cls = classifyPurchase(event);
          const placed = applyEvent(
            p.state,
            {
              ts: Date.parse(event.ts),
              taps: event.taps,
              product: event.productovisto,
              country: event.ubicacion.pais,
            },
            cls,
            windowOptions,
          );
          closed.push(...placed.closed);
          if (cls === "visit") continue;
          const { subject, text } = purchaseMessage(event, cls);
          const notified: PurchaseNotified = {
            v: 1,
            type: "PurchaseNotified",
            id: event.id,
            kind: cls,
            to: event.email,
            subject,
            text,
            folio: event.folio!,
            source: { partition: batch.partition, offset: record.offset },
            at: new Date().toISOString(),
          };
          out.push({
            topic: config.TOPIC_PURCHASE_NOTIFICATIONS,
            key: event.id,
            value: JSON.stringify(notified),
          });
          toConsole(config.PURCHASE_CONSOLE, notified);
          if (mailer) mails.push(mail(mailer, notified, log));
        }
        p.lastEventAt = Date.now();
        await Promise.all(mails);
        if (ctx.signal.aborted) return forget(p);
        await ctx.commit([...out, ...records(p, closed)], lastOffset(batch));
      } catch (error) {
        // The state already holds this batch, which will be read again: start from the checkpoint.
        forget(p);
        throw error;
      } finally {
        p.busy = false;
      }
    },
  });

  // A live dashboard needs the last windows even when events stop: close them after a quiet spell.
  const idle = setInterval(() => {
    for (const p of partitions.values()) {
      if (
        p.busy || p.state.open.length === 0 || Date.now() - p.lastEventAt < config.ANALYTICS_IDLE_MS
      ) continue;
      const closed = flushWindows(p.state);
      log.info("stream idle: closing windows", { partition: p.partition, windows: closed.length });
      void loop.publish(records(p, closed)).catch((error) => {
        log.warn("idle flush failed; restoring the partition from its checkpoint", { error });
        forget(p);
      });
    }
  }, Math.min(1000, config.ANALYTICS_IDLE_MS));

  onAbort(signal, () => void loop.stop());
  try {
    await loop.ready;
    log.info("analysing purchases", {
      topic: config.TOPIC_PURCHASES,
      windowMs: windowOptions.sizeMs,
      latenessMs: windowOptions.latenessMs,
    });
    await loop.done;
  } finally {
    await loop.stop();
    clearInterval(idle);
    mailer?.close();
  }
}

function windowRecord(config: Config, partition: number, w: WindowState): OutRecord {
  const value = {
    v: 1,
    type: "PurchaseWindow",
    partition,
    start: new Date(w.start).toISOString(),
    end: new Date(w.end).toISOString(),
    stats: w.stats,
    report: reportOf(w.stats),
  };
  return {
    topic: config.TOPIC_PURCHASE_ANALYTICS,
    key: `${value.start}/${partition}`,
    value: JSON.stringify(value),
  };
}

function totalsRecord(config: Config, p: PartitionState): OutRecord {
  const { totals, late, invalid, watermark } = p.state;
  const value = {
    v: 1,
    type: "PurchaseTotals",
    partition: p.partition,
    stats: totals,
    late,
    invalid,
    watermark: watermark === null ? null : new Date(watermark).toISOString(),
    report: reportOf(totals),
  };
  return {
    topic: config.TOPIC_PURCHASE_ANALYTICS,
    key: `totals/${p.partition}`,
    value: JSON.stringify(value),
  };
}

function toConsole(mode: Config["PURCHASE_CONSOLE"], n: PurchaseNotified): void {
  if (mode === "off") return;
  const head = `[compra ${n.kind === "short" ? "corta" : "larga"}] ${n.to} folio ${n.folio}`;
  process.stdout.write(mode === "line" ? `${head}\n` : `${head}\n${n.text}\n\n`);
}

async function mail(mailer: Mailer, n: PurchaseNotified, log: Logger): Promise<void> {
  try {
    await mailer.send({
      to: n.to,
      subject: n.subject,
      text: n.text,
      messageId: `<${n.id}.${n.folio}@despacho.local>`,
    });
  } catch (error) {
    // The record in purchase_notifications is the notification of record; mail is best effort.
    log.warn("purchase mail failed", { id: n.id, error });
  }
}

/**
 * The latest checkpoint per key in the compacted state topic (read_committed), read to its end:
 * until no record has arrived for a moment after the topic's end offsets were reached.
 */
async function readCheckpoints(
  kafka: KafkaClient,
  topic: string,
  log: Logger,
): Promise<Map<string, AnalyticsState>> {
  const found = new Map<string, AnalyticsState>();
  const ends = await kafka.endOffsets(topic);
  const remaining = new Map(
    ends.filter((e) => e.high !== e.low).map((e) => [e.partition, BigInt(e.high)]),
  );
  if (remaining.size === 0) return found;
  let last = Date.now();
  const reader = kafka.reader({
    topics: [topic],
    onBatch: (batch) => {
      for (const r of batch.records) {
        if (r.key === null || r.value === null) continue;
        found.set(
          r.key,
          (JSON.parse(new TextDecoder().decode(r.value)) as { state: AnalyticsState }).state,
        );
      }
      last = Date.now();
      // Transaction markers take the last offsets, so "reached" is the last data offset + 2 at most.
      if (BigInt(lastOffset(batch)) + 2n >= (remaining.get(batch.partition) ?? 0n)) {
        remaining.delete(batch.partition);
      }
    },
  });
  try {
    await reader.ready;
    // Quiet counts from the moment the reader has its partitions, not from before the group join.
    last = Math.max(last, Date.now());
    const started = Date.now();
    // Done when every partition reached its end and a moment passed; or, when aborted records at
    // the end (a crashed instance's) hide the end, after 1.5 s without any record.
    const quiet = () => Date.now() - last;
    while (
      !(remaining.size === 0 && quiet() >= 300) && quiet() < 1_500 && Date.now() - started < 15_000
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (remaining.size > 0) {
      log.warn("state topic not read to its end in 15 s", { partitions: [...remaining.keys()] });
    }
  } finally {
    await reader.stop();
  }
  return found;
}
