/**
 * Test fixture: a role that copies each input record to an output topic through the seam's
 * transactional loop. Arguments: brokers, input topic, output topic, group id, transactional id.
 * `KAFKA_CLIENT` chooses the client library.
 */
import { loadConfig } from "../../lib/config.ts";
import { createKafkaClient, lastOffset } from "../../lib/kafka/mod.ts";
import { createLogger } from "../../lib/log.ts";

const [brokers, input, output, groupId, transactionalId] = Deno.args;
if (!brokers || !input || !output || !groupId || !transactionalId) {
  console.error("usage: _echo_role.ts BROKERS INPUT OUTPUT GROUP TXID");
  Deno.exit(2);
}
const log = createLogger("echo", "warn");
const config = loadConfig({
  KAFKA_BROKERS: brokers,
  KAFKA_CLIENT_ID: "echo",
  KAFKA_CLIENT: Deno.env.get("KAFKA_CLIENT"),
});
const kafka = createKafkaClient(config, log);
const decoder = new TextDecoder();
const loop = kafka.runTransactional({
  groupId,
  transactionalId,
  instanceId: transactionalId,
  topics: [input],
  log,
  sessionTimeoutMs: 10_000,
  handle: async (batch, ctx) => {
    const records = batch.records.map((r) => ({
      topic: output,
      key: r.key ?? "",
      value: r.value === null ? "" : decoder.decode(r.value),
    }));
    await ctx.commit(records, lastOffset(batch));
  },
});
await loop.ready;
console.error("ready");
Deno.addSignalListener("SIGTERM", () => void loop.stop().then(() => Deno.exit(0)));
await loop.done;
