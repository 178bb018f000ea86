/**
 * `deno task status:backfill`: the one-time backfill of the compacted status topic from
 * `order_processing` and `order_notifications`, for orders placed before the status topic existed.
 * Run it once after upgrading (the roles may be running: what they write meanwhile is the same
 * facts). It reads both topics up to their end offsets at its start, writes each order's steps and
 * mails to `TOPIC_ORDER_STATUS`, and says how far it is every few seconds. Orders erased
 * (`TOPIC_ORDER_ERASURES`, read at its start) get their `{id}/erased` marker and no fact. Gateways pick the
 * records up like any other; none needs a restart.
 *
 *   deno task status:backfill [--force]
 *
 * It refuses when the status topic already holds records (it was backfilled, or the roles have
 * been writing it for longer than the source topics' retention), unless `--force`. Configuration
 * is the roles' (`KAFKA_BROKERS`, `KAFKA_CLIENT`, topic names). Exit codes: 0 done, 1 failed,
 * 2 bad usage or configuration, 3 refused.
 */
import { parseArgs } from "node:util";
import { configOrExit } from "./entrypoint.ts";
import { createKafkaClient, orderTopics, type OutRecord } from "../lib/kafka/mod.ts";
import { ErasedOrders } from "../lib/erasures.ts";
import { createLogger } from "../lib/log.ts";
import { backfillRecord, type BackfillSource } from "../lib/status_backfill.ts";

let args;
try {
  args = parseArgs({ args: Deno.args, options: { force: { type: "boolean", default: false } } })
    .values;
} catch (error) {
  console.error(`${(error as Error).message}\nusage: deno task status:backfill [--force]`);
  Deno.exit(2);
}
const config = configOrExit();
const log = createLogger("status-backfill", config.LOG_LEVEL);
const kafka = createKafkaClient(config, log);
const status = config.TOPIC_ORDER_STATUS;
let code = 0;
try {
  await kafka.ensureTopics(orderTopics(config), { timeoutMs: config.STARTUP_TIMEOUT_MS });
  const held = (await kafka.endOffsets(status))
    .reduce((n, p) => n + (BigInt(p.high) - BigInt(p.low)), 0n);
  if (held > 0n && !args.force) {
    log.error("Cannot backfill: the status topic already holds records; --force to write again", {
      topic: status,
      offsets: String(held),
    });
    code = 3;
  } else {
    // An erased order is not brought back (lib/status_backfill.ts).
    const erased = ErasedOrders.of(kafka, config, log);
    await erased.caughtUpNow();
    const producer = kafka.producer();
    await producer.connect();
    const sources: [string, BackfillSource][] = [
      [config.TOPIC_ORDER_PROCESSING, "transitions"],
      [config.TOPIC_ORDER_NOTIFICATIONS, "notifications"],
    ];
    let read = 0;
    let written = 0;
    const started = Date.now();
    const progress = setInterval(
      () => log.info("backfilling the status topic", { read, written }),
      5_000,
    );
    try {
      for (const [topic, source] of sources) {
        for (const p of await kafka.endOffsets(topic)) {
          // Written per fetch, not gathered: memory stays flat whatever the topics hold.
          let pending: Promise<void> = Promise.resolve();
          await kafka.readRange(topic, p.partition, p.low, p.high, (records) => {
            read += records.length;
            const out = records.map((r) =>
              backfillRecord(status, source, r, (id) => erased.has(id))
            )
              .filter((r): r is OutRecord => r !== null);
            written += out.length;
            if (out.length > 0) pending = pending.then(() => producer.send(out));
          });
          await pending;
        }
      }
    } finally {
      clearInterval(progress);
      await producer.close();
    }
    log.info("backfilled the status topic", {
      topic: status,
      read,
      written,
      ms: Date.now() - started,
    });
  }
} catch (error) {
  log.error("Cannot backfill the status topic", { error, topic: status });
  code = 1;
} finally {
  await kafka.close().catch(() => {});
}
Deno.exit(code);
