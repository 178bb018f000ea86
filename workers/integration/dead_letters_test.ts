import assert from "node:assert/strict";
import { loadConfig } from "../../lib/config.ts";
import {
  createKafkaClient,
  deadLetterRecord,
  orderTopics,
  REPLAY_OF,
} from "../../lib/kafka/mod.ts";
import { createLogger } from "../../lib/log.ts";
import type { OrderRequested } from "../../lib/order.ts";
import {
  produce,
  readTopic,
  testBrokers,
  testClientName,
  testKafka,
  topicEnv,
  uniqueName,
} from "../../infra/testing.ts";
import { run as runProcessing } from "../processing.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const log = createLogger("dead-letters", "error");
const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/** `deno task dead-letters …` as an operator runs it: the task's own permission flags. */
async function deadLetters(env: Record<string, string>, ...args: string[]) {
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks;
  const [deno, ...task] = (tasks["dead-letters"] as string).split(" ");
  assert.equal(deno, "deno");
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...task, ...args],
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

function request(id: string, order: Record<string, unknown>): OrderRequested {
  return {
    v: 1,
    type: "OrderRequested",
    id,
    order,
    requestedAt: new Date().toISOString(),
  } as OrderRequested;
}

Deno.test({
  name:
    "dead letters end to end: a request processing set aside is listed without its personal data, replayed fixed (another as it was), processed once each, and a second replay writes nothing",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const brokers = await testBrokers();
    const env = {
      KAFKA_BROKERS: brokers,
      KAFKA_CLIENT: testClientName(),
      ...topicEnv(uniqueName("dead-letters")),
      TOPIC_PARTITIONS: "2",
      INSTANCE_ID: "dead-letters",
      STAGE_DWELL_MS: "0",
      LOG_LEVEL: "error",
    };
    const config = loadConfig(env);
    const requests = config.TOPIC_ORDER_REQUESTS;
    const kafka = testKafka(brokers);
    await kafka.ensureTopics(orderTopics(config), { timeoutMs: 60_000 });
    const stop = new AbortController();
    const role = runProcessing({
      config,
      log,
      kafka: createKafkaClient(config, log),
      signal: stop.signal,
    });
    try {
      // A request a gateway of another version wrote with the price as text: set aside.
      const bad = request("o-bad", {
        name: "Pizza de Ana Pérez",
        price: "12990",
        email: "ana.perez@example.cl",
      });
      await produce(brokers, [{
        topic: requests,
        key: bad.id,
        value: JSON.stringify(bad),
        headers: { traceparent: TRACEPARENT },
      }]);
      // A letter as an older processing role wrote it, for a request that is valid today.
      const old = request("o-old", { name: "Churrasco", price: 6990, email: "luis@example.cl" });
      await produce(brokers, [
        deadLetterRecord(config.TOPIC_DEAD_LETTER, {
          topic: requests,
          partition: 0,
          offset: "999",
          key: old.id,
          value: new TextEncoder().encode(JSON.stringify(old)),
        }, "Cannot take request: refused by an older rule"),
      ]);
      const letters = await readTopic(brokers, config.TOPIC_DEAD_LETTER, 2, 60_000);
      assert.equal(letters.length, 2, "processing set the bad request aside");
      const badLetter = letters.map((l) => JSON.parse(l.value)).find((l) => l.key === "o-bad");
      assert.ok(badLetter, "the bad request's letter");
      const badId = `${requests}/${badLetter.source.partition}/${badLetter.source.offset}`;
      const oldId = `${requests}/0/999`;

      const listed = await deadLetters(env, "list");
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, new RegExp(`^${badId} .* set aside .*schema mismatch`, "m"));
      assert.match(listed.stdout, new RegExp(`^${oldId} .* set aside .*older rule`, "m"));
      assert.match(listed.stdout, /^2 dead letters, 0 replayed$/m);
      assert.doesNotMatch(listed.stdout + listed.stderr, /Ana|Pérez|example\.cl|Churrasco/);
      const shown = await deadLetters(env, "list", "--show-values", "--topic", requests);
      assert.match(shown.stdout, /ana\.perez@example\.cl/, "values only when asked");

      // The fixed request, and the old letter as it was.
      const fixedFile = await Deno.makeTempFile({ suffix: ".json" });
      await Deno.writeTextFile(
        fixedFile,
        JSON.stringify({ ...bad, order: { ...bad.order, price: 12990 } }),
      );
      const fixed = await deadLetters(env, "replay", badId, "--value-file", fixedFile);
      assert.equal(fixed.code, 0, fixed.stderr);
      assert.match(
        fixed.stdout,
        new RegExp(`^replayed ${badId} to ${requests} \\(with the value given\\)$`, "m"),
      );
      const all = await deadLetters(env, "replay", "--all-from", requests);
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout, new RegExp(`^${badId}: replayed before`, "m"));
      assert.match(all.stdout, new RegExp(`^replayed ${oldId} to ${requests}$`, "m"));

      // Processing takes both: four transitions each, none twice.
      const transitions = await readTopic(brokers, config.TOPIC_ORDER_PROCESSING, 8, 60_000, 2_000);
      const states = (id: string) =>
        transitions.map((t) => JSON.parse(t.value)).filter((t) => t.id === id).map((t) => t.state);
      const four = ["recibido", "preparando", "entregando", "finalizado"];
      assert.deepEqual(states("o-bad"), four);
      assert.deepEqual(states("o-old"), four);
      assert.equal(transitions.length, 8);

      // Again: nothing is written.
      const again = await deadLetters(env, "replay", "--all-from", requests);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /^nothing to replay$/m);
      const written = await readTopic(brokers, requests, 3, 30_000, 2_000);
      assert.equal(written.length, 3, "the bad request and the two replays, once each");
      const replays = written.filter((r) => r.headers[REPLAY_OF] !== undefined);
      assert.deepEqual(replays.map((r) => r.headers[REPLAY_OF]).sort(), [badId, oldId].sort());
      const replayedBad = replays.find((r) => r.key === "o-bad")!;
      assert.equal(replayedBad.headers.traceparent, TRACEPARENT, "still in the order's trace");
      assert.equal(JSON.parse(replayedBad.value).order.price, 12990);

      const after = await deadLetters(env, "list", "--json");
      const rows = after.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(
        rows.map((r) => [r.id, r.replayedAt !== null]).sort(),
        [
          [badId, true],
          [oldId, true],
        ].sort(),
      );
      const unknown = await deadLetters(env, "replay", `${requests}/1/123456`);
      assert.equal(unknown.code, 1);
      assert.match(
        unknown.stderr,
        new RegExp(`Cannot replay ${requests}/1/123456: no dead letter has this id`),
      );
    } finally {
      stop.abort();
      await role;
      await kafka.close();
    }
  },
});
