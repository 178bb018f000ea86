import assert from "node:assert/strict";
import { chunkRecords, deadLetterRecord, lastOffset, type OutRecord } from "./records.ts";

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

Deno.test("deadLetterRecord() carries the source's traceparent, and no headers when it has none", () => {
  const source = { topic: "t", partition: 0, offset: "1", key: null, value: null };
  const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  assert.deepEqual(
    deadLetterRecord("dlq", { ...source, headers: { traceparent, other: "x" } }, "r").headers,
    { traceparent },
  );
  assert.equal(deadLetterRecord("dlq", source, "r").headers, undefined);
});
