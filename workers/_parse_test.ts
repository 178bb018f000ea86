import assert from "node:assert/strict";
import { z } from "zod";
import { DeadLetterSchema, type InRecord } from "../lib/kafka/records.ts";
import { createLogger } from "../lib/log.ts";
import { deadLetters } from "../lib/metrics.ts";
import { parseOrDeadLetter } from "./_parse.ts";

const Schema = z.object({ v: z.literal(1), n: z.int() });
const record = (value: string | null): InRecord => ({
  topic: "parse_test_in",
  partition: 2,
  offset: "41",
  key: "k",
  value: value === null ? null : new TextEncoder().encode(value),
  headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
  timestamp: 0,
});
/** Dead letters counted for this test's topic, for one reason or all. */
const counted = async (reason?: string) =>
  (await deadLetters.get()).values
    .filter((v) =>
      v.labels.topic === "parse_test_in" && (reason ?? v.labels.reason) === v.labels.reason
    )
    .reduce((sum, v) => sum + v.value, 0);

Deno.test("parseOrDeadLetter() answers a valid record's value and sets nothing aside", async () => {
  const lines: string[] = [];
  const before = await counted();
  const parsed = parseOrDeadLetter(
    record('{"v":1,"n":3}'),
    Schema,
    "dead",
    createLogger("t", "debug", (l) => lines.push(l)),
  );
  assert.deepEqual(parsed, { ok: true, value: { v: 1, n: 3 } });
  assert.deepEqual(lines, []);
  assert.equal(await counted(), before);
});

Deno.test("parseOrDeadLetter() turns a bad record into a dead letter with its source and reason, logged and counted", async (t) => {
  const cases: [string, string | null, string, string][] = [
    ["not JSON", "{nope", "invalid_json", "Cannot parse record: invalid JSON: "],
    [
      "another shape",
      '{"v":1,"n":"3"}',
      "schema_mismatch",
      "Cannot parse record: schema mismatch: n: ",
    ],
    ["a tombstone", null, "null_value", "Cannot parse record: value is null"],
  ];
  for (const [name, value, kind, reason] of cases) {
    await t.step(name, async () => {
      const lines: string[] = [];
      const before = await counted(kind);
      const parsed = parseOrDeadLetter(
        record(value),
        Schema,
        "dead",
        createLogger("t", "debug", (l) => lines.push(l)),
      );
      assert.equal(parsed.ok, false);
      if (parsed.ok) return;
      assert.equal(parsed.letter.topic, "dead");
      assert.equal(parsed.letter.key, "parse_test_in/2/41");
      assert.deepEqual(parsed.letter.headers, { traceparent: record(null).headers.traceparent });
      const letter = DeadLetterSchema.parse(JSON.parse(parsed.letter.value as string));
      assert.deepEqual(letter.source, { topic: "parse_test_in", partition: 2, offset: "41" });
      assert.equal(letter.value, value);
      assert.ok(letter.reason.startsWith(reason), letter.reason);
      assert.equal(lines.length, 1);
      const entry = JSON.parse(lines[0]!);
      assert.deepEqual([entry.level, entry.msg, entry.topic, entry.offset], [
        "warn",
        "dead-lettering a record",
        "parse_test_in",
        "41",
      ]);
      assert.equal(await counted(kind), before + 1);
    });
  }
});
