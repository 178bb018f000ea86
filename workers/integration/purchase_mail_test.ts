/**
 * Purchase mail on the real broker and a real SMTP server: purchase-analytics writes the
 * notifications, the notification role mails them with order mail's retries. An outage delays
 * mail without losing or doubling any; a permanent refusal is failed at once; every outcome is
 * published, without address or text.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../lib/config.ts";
import { createKafkaClient, despachoTopics } from "../../lib/kafka/mod.ts";
import { createLogger } from "../../lib/log.ts";
import { classifyPurchase } from "../../lib/purchase.ts";
import { type PurchaseMailed, purchaseMessageId } from "../../lib/purchase_mail.ts";
import { generatePurchases, readWords } from "../../datasets/purchases.ts";
import { startSmtp } from "../../infra/smtp.ts";
import { produce, readTopic, testEnv, until } from "../../infra/testing.ts";
import { run as runNotification } from "../notification.ts";
import { run as runAnalytics } from "../purchase_analytics.ts";
import { startRoles } from "./_roles.ts";

Deno.test({
  name:
    "purchase mail: while the SMTP server answers 451 every purchase mail waits on the retry topic; once it is back each is delivered once with its Message-ID; a 550 is failed at once; outcomes published without address or text",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const smtp = await startSmtp();
    smtp.refuseRecipients(/^nadie/);
    const config = loadConfig(
      await testEnv("purchase-mail", {
        KAFKA_SESSION_TIMEOUT_MS: "10000",
        TOPIC_PARTITIONS: "3",
        INSTANCE_ID: "purchase-mail",
        SMTP_URL: smtp.url,
        MAIL_RETRY_MAX_DELAY_MS: "1000",
        PURCHASE_CONSOLE: "off",
      }),
    );
    const brokers = config.KAFKA_BROKERS.join(",");
    const log = createLogger("test", "error");
    const setup = createKafkaClient(config, log);
    await setup.ensureTopics(
      despachoTopics(config),
      { timeoutMs: 60_000 },
    );
    await setup.close();
    const roles = startRoles(config, log, {
      "purchase-analytics": runAnalytics,
      notification: runNotification,
    });
    try {
      const events = generatePurchases(await readWords(), {
        count: 120,
        seed: 17,
        startMs: Date.UTC(2026, 10, 26, 12),
        intervalMs: 100,
      });
      const purchases = events.filter((e) => classifyPurchase(e) !== "visit");
      // Two buyers whose mailbox does not exist: refused for good (550), outage or not.
      const blocked = new Set(purchases.slice(0, 2).map((p) => p.id));
      for (const p of purchases) if (blocked.has(p.id)) p.email = `nadie.${p.id}@mail.com`;
      // The outage lasts until every deliverable purchase mail has been refused and is waiting on
      // the retry topic: then the server takes mail again.
      smtp.refuseFor(3_600_000);
      await produce(
        brokers,
        events.map((e) => ({ topic: config.TOPIC_PURCHASES, key: e.id, value: JSON.stringify(e) })),
      );
      const deliverable = purchases.filter((p) => !blocked.has(p.id));
      await until("every purchase mail to wait on the retry topic", async () => {
        const owed = await readTopic(
          brokers,
          config.TOPIC_PURCHASE_MAIL_RETRIES,
          Number.MAX_SAFE_INTEGER,
          2_000,
        );
        const ids = new Set(owed.map((r) => JSON.parse(r.value).notification.id));
        return deliverable.every((p) => ids.has(p.id)) ? true : undefined;
      }, 90_000);
      const outageEnds = Date.now();
      smtp.refuseFor(0);

      const records = await readTopic(
        brokers,
        config.TOPIC_PURCHASE_MAIL,
        purchases.length,
        90_000,
      );
      const outcomes = records.map((r) => JSON.parse(r.value) as PurchaseMailed);
      const byId = Map.groupBy(outcomes, (o) => o.id);
      assert.deepEqual(
        {
          missing: purchases.filter((p) => !byId.has(p.id)).map((p) => p.id),
          twice: [...byId].filter(([, l]) => l.length > 1).map(([id]) => id),
        },
        { missing: [], twice: [] },
        "one outcome per purchase",
      );
      for (const p of purchases) {
        const o = byId.get(p.id)![0]!;
        assert.equal(o.messageId, purchaseMessageId(p.id, p.folio!));
        assert.equal(o.folio, p.folio);
        assert.equal(o.kind, classifyPurchase(p));
        if (blocked.has(p.id)) {
          assert.equal(o.status, "failed", `purchase ${p.id}`);
          assert.equal(o.attempts, 1, "a permanent refusal is not retried");
          assert.match(o.error ?? "", /\b550\b/);
          assert.ok(Date.parse(o.at) < outageEnds, "failed at once, during the outage");
        } else {
          assert.equal(o.status, "sent", `purchase ${p.id}: ${o.error}`);
          // Delivered only once the server took mail again: it waited, it was not dropped.
          assert.ok(Date.parse(o.at) >= outageEnds, `purchase ${p.id} sent at ${o.at}`);
          assert.ok(o.attempts > 1, `purchase ${p.id} tried ${o.attempts} times`);
        }
        // The outcome names the purchase, not the person.
        const text = JSON.stringify(o);
        for (const personal of [p.email, p.nombre, p.apellido]) {
          assert.ok(!text.includes(personal), `outcome of ${p.id} holds "${personal}"`);
        }
      }

      // The SMTP server got each deliverable purchase mail once, to its buyer, with its Message-ID.
      const delivered = Map.groupBy(smtp.mails, (m) => m.messageId ?? "");
      assert.equal(smtp.mails.length, deliverable.length, "no mail delivered twice");
      for (const p of deliverable) {
        const mails = delivered.get(purchaseMessageId(p.id, p.folio!)) ?? [];
        assert.equal(mails.length, 1, `mail of ${p.id}`);
        assert.deepEqual(mails[0]!.to, [p.email]);
      }
    } finally {
      await roles.stop();
      await smtp.close();
    }
  },
});
