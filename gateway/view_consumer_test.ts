import assert from "node:assert/strict";
import { z } from "zod";
import type { InRecord } from "../lib/kafka/mod.ts";
import { parsedWith } from "./view_consumer.ts";

const Schema = z.object({ v: z.literal(1), n: z.int() });

function record(value: string | null): InRecord {
  return {
    topic: "t",
    partition: 0,
    offset: "0",
    key: null,
    value: value === null ? null : new TextEncoder().encode(value),
    headers: {},
    timestamp: 0,
  };
}

Deno.test("parsedWith() gives a record that parses to its use, and refuses the rest unused", async (t) => {
  const used: unknown[] = [];
  const handle = parsedWith(Schema, (value) => used.push(value));
  await t.step("a valid record", () => {
    assert.equal(handle(record(`{"v":1,"n":2}`)), true);
    assert.deepEqual(used, [{ v: 1, n: 2 }]);
  });
  const refused: [string, string | null][] = [
    ["a tombstone", null],
    ["invalid JSON", "{"],
    ["a schema mismatch", `{"v":2,"n":2}`],
  ];
  for (const [name, value] of refused) {
    await t.step(name, () => {
      assert.equal(handle(record(value)), false);
      assert.equal(used.length, 1);
    });
  }
});
