import assert from "node:assert/strict";
import { z } from "zod";
import {
  chunkRecords,
  deadLetterRecord,
  lastOffset,
  type OutRecord,
  parseRecord,
  parseRecordId,
  type Tombstone,
  withoutExcerpt,
} from "./records.ts";

Deno.test("chunkRecords() splits large output into requests under the broker's batch limit, in order", () => {
  const value = "x".repeat(10_000);
  const records: OutRecord[] = Array.from(
    { length: 300 },
    (_, i) => ({ topic: i % 2 ? "a" : "b", key: `k${i}`, value }),
  );
  const chunks = chunkRecords(records);
  assert.ok(chunks.length >= 6, `${chunks.length} requests`);
  for (const c of chunks) {
    const bytes = c.reduce((n, r) => n + r.value.length + r.key.length + 64, 0);
    assert.ok(bytes <= 512 * 1024, `a request of ${bytes} bytes`);
    assert.ok(c.length > 0);
  }
  assert.deepEqual(chunks.flat().map((r) => r.key), records.map((r) => r.key));
  assert.deepEqual(chunkRecords([]), [], "no records, no request");
  // One record above the limit still goes, alone.
  const big = { topic: "a", key: "big", value: "y".repeat(600_000) };
  assert.deepEqual(chunkRecords([records[0]!, big, records[1]!]).map((c) => c.length), [1, 1, 1]);
});

Deno.test("chunkRecords() counts a tombstone by its key alone and keeps its null value", () => {
  const tombstones: Tombstone[] = Array.from(
    { length: 9000 },
    (_, i) => ({ topic: "t", key: `k${String(i).padStart(4, "0")}`, value: null }),
  );
  // 9000 × (5 + 64) bytes: two requests under 512 KiB.
  const chunks = chunkRecords(tombstones);
  assert.deepEqual(chunks.map((c) => c.length), [7598, 1402]);
  assert.ok(chunks.flat().every((r) => r.value === null));
});

Deno.test("lastOffset() is the last record's offset, and refuses an empty batch", () => {
  const record = (offset: string) => ({
    topic: "t",
    partition: 1,
    offset,
    key: null,
    value: null,
    headers: {},
    timestamp: 0,
  });
  assert.equal(lastOffset({ topic: "t", partition: 1, records: [record("7"), record("9")] }), "9");
  assert.throws(() => lastOffset({ topic: "t", partition: 1, records: [] }), {
    name: "RangeError",
    message: "Cannot take the last offset of t/1: the batch is empty",
  });
});

Deno.test("deadLetterRecord() keeps the source, the text and the reason, keyed by position", () => {
  const record = deadLetterRecord(
    "dlq",
    {
      topic: "order_requests",
      partition: 2,
      offset: "41",
      key: "k",
      value: new TextEncoder().encode("{oops"),
    },
    "Cannot parse record: invalid JSON",
    new Date("2026-01-01T00:00:00.000Z"),
  );
  assert.equal(record.topic, "dlq");
  assert.equal(record.key, "order_requests/2/41");
  assert.deepEqual(JSON.parse(record.value), {
    v: 1,
    type: "DeadLetter",
    source: { topic: "order_requests", partition: 2, offset: "41" },
    key: "k",
    value: "{oops",
    reason: "Cannot parse record: invalid JSON",
    at: "2026-01-01T00:00:00.000Z",
  });
});

Deno.test("parseRecord() gives the typed value, or the reason it is not one", async (t) => {
  const schema = z.object({ v: z.literal(1), n: z.int() });
  const bytes = (text: string) => new TextEncoder().encode(text);
  const cases: [string, Uint8Array | null, ReturnType<typeof parseRecord>][] = [
    ["valid", bytes('{"v":1,"n":2}'), { ok: true, value: { v: 1, n: 2 } }],
    ["a tombstone", null, {
      ok: false,
      reason: "Cannot parse record: value is null",
      kind: "null_value",
    }],
    ["not JSON", bytes("{"), {
      ok: false,
      reason: `Cannot parse record: invalid JSON: ${
        (() => {
          try {
            JSON.parse("{");
          } catch (e) {
            return (e as Error).message;
          }
        })()
      }`,
      kind: "invalid_json",
    }],
    ["a schema mismatch", bytes('{"v":2,"n":"x"}'), {
      ok: false,
      reason: "Cannot parse record: schema mismatch: v: Invalid input: expected 1; " +
        "n: Invalid input: expected number, received string",
      kind: "schema_mismatch",
    }],
    ["not an object", bytes("3"), {
      ok: false,
      reason: "Cannot parse record: schema mismatch: (root): Invalid input: expected object, " +
        "received number",
      kind: "schema_mismatch",
    }],
  ];
  for (const [name, value, want] of cases) {
    await t.step(name, () => assert.deepEqual(parseRecord(value, schema), want));
  }
  await t.step("not JSON, without the text V8 quotes from it (it may be personal data)", () => {
    const parsed = parseRecord(bytes(`nope ${"ana@x.cl ".repeat(20)}`), schema);
    assert.deepEqual(parsed, {
      ok: false,
      reason:
        "Cannot parse record: invalid JSON: Unexpected token 'o', the value is not valid JSON",
      kind: "invalid_json",
    });
  });
  await t.step("not JSON", () => {
    const parsed = parseRecord(bytes("{"), schema);
    assert.equal(parsed.ok, false);
    assert.match(parsed.ok ? "" : parsed.reason, /^Cannot parse record: invalid JSON: /);
  });
});

Deno.test("deadLetterRecord() carries the source's traceparent, and no headers when it has none", () => {
  const source = { topic: "t", partition: 0, offset: "1", key: null, value: null };
  const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  assert.deepEqual(
    deadLetterRecord("dlq", { ...source, headers: { traceparent, other: "x" } }, "r").headers,
    { traceparent },
  );
  assert.equal(deadLetterRecord("dlq", source, "r").headers, undefined);
});

Deno.test("withoutExcerpt() leaves out the quoted input of a JSON error, and nothing else", async (t) => {
  const cases: [string, string][] = [
    [
      `Unexpected token 'o', "nope ana@x.cl" is not valid JSON`,
      "Unexpected token 'o', the value is not valid JSON",
    ],
    [
      `Unexpected token 'x', "xxxxxxxxxx"... is not valid JSON`,
      "Unexpected token 'x', the value is not valid JSON",
    ],
    [
      `Unexpected token 'x', ..."a "quoted" b"... is not valid JSON`,
      "Unexpected token 'x', the value is not valid JSON",
    ],
    [
      "Unterminated string in JSON at position 1 (line 1 column 2)",
      "Unterminated string in JSON at position 1 (line 1 column 2)",
    ],
    [
      "Cannot parse record: schema mismatch: order.price: Invalid input",
      "Cannot parse record: schema mismatch: order.price: Invalid input",
    ],
  ];
  for (const [message, want] of cases) {
    await t.step(message, () => assert.equal(withoutExcerpt(message), want));
  }
});

Deno.test("parseRecordId() gives a JSON object's string id, else null", async (t) => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  const cases: [string, Uint8Array | null, string | null][] = [
    ["an object with an id", bytes(`{"v":1,"id":"o1","order":{}}`), "o1"],
    ["a tombstone", null, null],
    ["not JSON", bytes("{"), null],
    ["JSON null", bytes("null"), null],
    ["a number", bytes("5"), null],
    ["an id that is not a string", bytes(`{"id":7}`), null],
    ["no id", bytes(`{"v":1}`), null],
  ];
  for (const [name, value, want] of cases) {
    await t.step(name, () => assert.equal(parseRecordId(value), want));
  }
});
