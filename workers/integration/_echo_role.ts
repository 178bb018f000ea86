/**
 * Test fixture: a role that copies each input record to an output topic through
 * `runTransactional`. Arguments: brokers, input topic, output topic, group id, transactional id.
 */
import { createKafka } from "../../lib/kafka.ts";
import { createLogger } from "../../lib/log.ts";
import { runTransactional } from "../../lib/transactional.ts";

const [brokers, input, output, groupId, transactionalId] = Deno.args;
if (!brokers || !input || !output || !groupId || !transactionalId) {
  console.error("usage: _echo_role.ts BROKERS INPUT OUTPUT GROUP TXID");
  Deno.exit(2);
}
const log = createLogger("echo", "warn");
const kafka = createKafka({ KAFKA_BROKERS: brokers.split(","), KAFKA_CLIENT_ID: "echo" }, log);
const loop = runTransactional({
  kafka,
  groupId,
  transactionalId,
  topics: [input],
  log,
  handle: async (batch, ctx) => {
    const records = batch.messages.map((m) => ({
      topic: output,
      key: m.key?.toString() ?? "",
      value: m.value?.toString() ?? "",
    }));
    await ctx.commit(records, batch.lastOffset());
  },
});
await loop.ready;
console.error("ready");
Deno.addSignalListener("SIGTERM", () => void loop.stop().then(() => Deno.exit(0)));
await loop.done;
