/**
 * Erasure on the real broker and a real SMTP server: an order erased while `preparando` is cancelled
 * where it stood (no later transition, no later mail), an order erased once finished loses its
 * status keys, both keep only their `{id}/erased` marker in the status topic, an order not erased
 * finishes with its four mails, and restarted roles publish nothing more for the erased orders,
 * also when an erased order's request and transition are read again.
 */
import assert from "node:assert/strict";
import { type Config, loadConfig } from "../../lib/config.ts";
import { despachoTopics, type InRecord, readLatestByKey } from "../../lib/kafka/mod.ts";
import { createLogger } from "../../lib/log.ts";
import {
  erasureRequestRecord,
  type OrderProcessingEvent,
  type OrderRequested,
  type OrderTransition,
} from "../../lib/order.ts";
import { startSmtp } from "../../infra/smtp.ts";
import { produce, testEnv, testKafka, until } from "../../infra/testing.ts";
import { run as runNotification } from "../notification.ts";
import { run as runProcessing } from "../processing.ts";
import { startRoles } from "./_roles.ts";

const log = createLogger("erasure", "error");
const decoder = new TextDecoder();

/** The two order roles on `config`, in this process. */
const orderRoles = (config: Config) =>
  startRoles(config, log, { processing: runProcessing, notification: runNotification });

const requested = (id: string, i: number): OrderRequested => ({
  v: 1,
  type: "OrderRequested",
  id,
  order: { name: `Pedido ${i}`, price: 1000 + i, email: `c${i}@example.cl` },
  requestedAt: new Date().toISOString(),
});

Deno.test({
  name:
    "erasure: an order erased while preparando gets no later transition or mail, a finished one loses its status keys, both keep only their marker, others finish; restarted roles publish nothing more for them",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const smtp = await startSmtp();
    const config = loadConfig(
      await testEnv("erasure", {
        KAFKA_SESSION_TIMEOUT_MS: "10000",
        TOPIC_PARTITIONS: "3",
        INSTANCE_ID: "erasure",
        SMTP_URL: smtp.url,
        STAGE_DWELL_MS: "1500,1500,1500",
      }),
    );
    const brokers = config.KAFKA_BROKERS.join(",");
    const kafka = testKafka(brokers);
    await kafka.ensureTopics(despachoTopics(config), { timeoutMs: 60_000 });
    // order_processing as it is written, in offset order per partition.
    const events: (InRecord & { event: OrderProcessingEvent })[] = [];
    const watcher = kafka.reader({
      topics: [config.TOPIC_ORDER_PROCESSING],
      onBatch: (batch) => {
        for (const r of batch.records) {
          events.push({ ...r, event: JSON.parse(decoder.decode(r.value!)) });
        }
      },
    });
    const eventsOf = (id: string) => events.filter((e) => e.event.id === id);
    const statesOf = (id: string) =>
      eventsOf(id).flatMap((e) => e.event.type === "OrderTransition" ? [e.event.state] : []);
    const mailsTo = (id: string) =>
      smtp.mails.filter((m) => m.messageId?.includes(`<${id}.`)).map((m) =>
        m.messageId!.slice(id.length + 2).split("@")[0]
      );
    const place = (ids: string[]) =>
      produce(
        brokers,
        ids.map((id, i) => ({
          topic: config.TOPIC_ORDER_REQUESTS,
          key: id,
          value: JSON.stringify(requested(id, i)),
        })),
      );
    // Connected beforehand: the erasure must land well within the 1.5 s before entregando.
    const staff = kafka.producer();
    await staff.connect();
    const erase = (id: string) =>
      staff.send([erasureRequestRecord(config.TOPIC_ORDER_ERASURES, id, new Date())]);
    const finished = (id: string) =>
      until(`order ${id} finalizado with four mails`, () =>
        Promise.resolve(
          statesOf(id).includes("finalizado") && mailsTo(id).length === 4 ? true : undefined,
        ), 60_000);
    const latestStatus = async () => [
      ...(await readLatestByKey(kafka, config.TOPIC_ORDER_STATUS, { timeoutMs: 30_000 })).keys(),
    ];
    const keysOf = (keys: string[], id: string) =>
      keys.filter((k) => k.startsWith(`${id}/`)).sort();
    const suffix = Date.now().toString(36);
    const [done, inFlight, kept, later] = ["done", "inflight", "kept", "later"].map((n) =>
      `${n}-${suffix}`
    ) as [string, string, string, string];
    let roles = orderRoles(config);
    try {
      await watcher.ready;
      // One order finished before anything is erased.
      await place([done]);
      await finished(done);
      // The last mail's outcome (and its status key) commits after the SMTP server has the mail.
      let doneKeys: string[] = [];
      await until(`the eight status keys of ${done}`, async () => {
        doneKeys = keysOf(await latestStatus(), done);
        return doneKeys.length === 8 ? true : undefined;
      }, 60_000).catch(() => {});
      assert.equal(doneKeys.length, 8, `status keys of the finished order: ${doneKeys}`);

      // Two more; one of them is erased as soon as it is preparando (entregando is 1.5 s away).
      await place([inFlight, kept]);
      await until(
        `order ${inFlight} preparando`,
        () => Promise.resolve(statesOf(inFlight).includes("preparando") ? true : undefined),
      );
      await erase(inFlight);
      await erase(done);
      await finished(kept);
      await until("both erasures in order_processing", () =>
        Promise.resolve(
          [inFlight, done].every((id) => eventsOf(id).some((e) => e.event.type === "OrderErased"))
            ? true
            : undefined,
        ));
      // The erased order would have finished with the kept one: give it one more dwell to show.
      await new Promise((r) => setTimeout(r, 1_500));

      for (const id of [inFlight, done]) {
        const mine = eventsOf(id);
        const erasedAt = mine.findIndex((e) => e.event.type === "OrderErased");
        assert.deepEqual(
          mine.slice(erasedAt + 1).map((e) => e.event.type),
          [],
          `order_processing after ${id}'s OrderErased`,
        );
      }
      assert.deepEqual(statesOf(inFlight), ["recibido", "preparando"]);
      assert.deepEqual(mailsTo(inFlight).sort(), ["preparando", "recibido"]);
      assert.equal(mailsTo(done).length, 4);
      assert.equal(mailsTo(kept).length, 4);
      // The status topic: only the markers of the erased orders (the notification role's mail
      // tombstones land after processing's marker: wait for them), every key of the kept one.
      await until("the erased orders' status keys tombstoned", async () => {
        const keys = await latestStatus();
        return keysOf(keys, inFlight).length === 1 && keysOf(keys, done).length === 1
          ? keys
          : undefined;
      });
      const keys = await latestStatus();
      assert.deepEqual(keysOf(keys, inFlight), [`${inFlight}/erased`]);
      assert.deepEqual(keysOf(keys, done), [`${done}/erased`]);
      assert.equal(keysOf(keys, kept).length, 8);

      // Restarted roles (a new load of the erasures) read an erased order's request and a
      // transition owing its next step again: nothing is published for it, no mail goes.
      await roles.stop();
      roles = orderRoles(config);
      const mailsBefore = smtp.mails.length;
      const eventsBefore = events.length;
      const stale = eventsOf(inFlight).find((e) => e.event.type === "OrderTransition")!
        .event as OrderTransition;
      await produce(brokers, [
        {
          topic: config.TOPIC_ORDER_REQUESTS,
          key: inFlight,
          value: JSON.stringify(requested(inFlight, 8)),
        },
        {
          topic: config.TOPIC_ORDER_REQUESTS,
          key: done,
          value: JSON.stringify(requested(done, 9)),
        },
        {
          topic: config.TOPIC_ORDER_PROCESSING,
          key: inFlight,
          value: JSON.stringify({
            ...stale,
            next: { state: "preparando", dueAt: new Date().toISOString() },
          }),
        },
      ]);
      await place([later]);
      await finished(later);
      // Every record the test wrote was decided by both roles: their groups committed past them.
      const injected = await until(
        "the transition written by the test",
        () => Promise.resolve(events.slice(eventsBefore).find((e) => e.event.id === inFlight)),
      );
      const requestEnds = await kafka.endOffsets(config.TOPIC_ORDER_REQUESTS);
      const committedPast = async (
        group: string,
        topic: string,
        partition: number,
        next: bigint,
      ) => {
        const committed = await kafka.groupOffsets(`${config.GROUP_ID_PREFIX}-${group}`, topic);
        const c = committed.find((p) => p.partition === partition)?.offset ?? "-1";
        return BigInt(c) >= next;
      };
      await until("the roles' groups committed past the records the test wrote", async () => {
        const decided = await committedPast(
          "processing",
          config.TOPIC_ORDER_PROCESSING,
          injected.partition,
          BigInt(injected.offset) + 1n,
        ) &&
          await committedPast(
            "notification",
            config.TOPIC_ORDER_PROCESSING,
            injected.partition,
            BigInt(injected.offset) + 1n,
          );
        if (!decided) return undefined;
        for (const e of requestEnds) {
          const ok = await committedPast(
            "processing",
            config.TOPIC_ORDER_REQUESTS,
            e.partition,
            BigInt(e.high),
          );
          if (!ok && BigInt(e.high) > 0n) return undefined;
        }
        return true;
      });
      const after = events.slice(eventsBefore);
      assert.deepEqual(
        after.filter((e) => e.event.id !== later).map((e) => `${e.event.id} ${e.event.type}`),
        [`${inFlight} OrderTransition`],
        "only the transition the test wrote",
      );
      assert.deepEqual(
        smtp.mails.slice(mailsBefore).map((m) => m.messageId?.split("@")[0]?.split(".")[0]),
        Array(4).fill(`<${later}`),
      );
      const final = await latestStatus();
      assert.deepEqual(keysOf(final, inFlight), [`${inFlight}/erased`]);
      assert.deepEqual(keysOf(final, done), [`${done}/erased`]);
      assert.equal(keysOf(final, later).length, 8);
    } finally {
      await roles.stop();
      await watcher.stop();
      await staff.close();
      await kafka.close();
      await smtp.close();
    }
  },
});
