import assert from "node:assert/strict";
import { deadLetterRecord, type OutRecord, sendRecords } from "./kafka.ts";

Deno.test("sendRecords() splits large output into requests under the broker's batch limit, in order", async () => {
  const requests: { topic: string; messages: { key: string; value: string }[] }[][] = [];
  const producer = {
    sendBatch: (
      batch: { topicMessages?: { topic: string; messages: { key: string; value: string }[] }[] },
    ) => {
      requests.push(batch.topicMessages ?? []);
      return Promise.resolve([]);
    },
  };
  const value = "x".repeat(10_000);
  const records: OutRecord[] = Array.from(
    { length: 300 },
    (_, i) => ({ topic: i % 2 ? "a" : "b", key: `k${i}`, value }),
  );
  await sendRecords(producer as never, records);
  assert.ok(requests.length >= 6, `${requests.length} requests`);
  for (const r of requests) {
    const bytes = r.flatMap((t) => t.messages).reduce((n, m) => n + m.value.length, 0);
    assert.ok(bytes <= 512 * 1024, `a request of ${bytes} bytes`);
  }
  const sent = requests.flatMap((r) => r.flatMap((t) => t.messages.map((m) => m.key)));
  assert.deepEqual(sent.toSorted(), records.map((r) => r.key).toSorted());
  const before = requests.length;
  await sendRecords(producer as never, []);
  assert.equal(requests.length, before, "no records, no request");
});

Deno.test("deadLetterRecord() keeps the source, the text and the reason, keyed by position", () => {
  const record = deadLetterRecord(
    "dlq",
    {
      topic: "order_requests",
      partition: 2,
      offset: "41",
      key: new TextEncoder().encode("k"),
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
