import assert from "node:assert/strict";
import {
  collectLetters,
  describeLetter,
  letterJson,
  replayRecords,
  selectForReplay,
} from "./dead_letters.ts";
import {
  deadLetterRecord,
  deadLetterReplayedRecord,
  type InRecord,
  type OutRecord,
  REPLAY_OF,
} from "./kafka/records.ts";

const TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const encode = (text: string) => new TextEncoder().encode(text);
/** A personal order, as a customer's request holds it. */
const PERSONAL = JSON.stringify({
  v: 1,
  type: "OrderRequested",
  id: "o-1",
  order: { name: "Ana Pérez's pizza", price: "12990", email: "ana.perez@example.cl" },
  requestedAt: "2026-11-25T12:00:00.000Z",
});

/** What the dead-letter topic holds: `out` records as a reader gets them back. */
function asRead(out: OutRecord[], partition = 0): InRecord[] {
  return out.map((r, i) => ({
    topic: r.topic,
    partition,
    offset: String(i),
    key: r.key,
    value: encode(r.value),
    headers: r.headers ?? {},
    timestamp: 0,
  }));
}

function letterOf(
  offset: string,
  at: string,
  value: string | null = PERSONAL,
  reason = "Cannot parse record: schema mismatch: order.price: Invalid input",
  topic = "order_requests",
): OutRecord {
  return deadLetterRecord(
    "dlq",
    {
      topic,
      partition: 1,
      offset,
      key: "o-1",
      value: value === null ? null : encode(value),
      headers: { traceparent: TRACEPARENT },
    },
    reason,
    new Date(at),
  );
}

Deno.test("collectLetters() gives each letter once, oldest first, with its last replay", () => {
  const source = { topic: "order_requests", partition: 1, offset: "7" };
  const { letters, copies, unreadable } = collectLetters(asRead([
    letterOf("9", "2026-11-25T12:00:02.000Z"),
    letterOf("7", "2026-11-25T12:00:01.000Z"),
    letterOf("7", "2026-11-25T12:00:05.000Z"), // a copy of the same source position
    deadLetterReplayedRecord("dlq", source, "original", new Date("2026-11-25T13:00:00.000Z")),
    deadLetterReplayedRecord("dlq", source, "replaced", new Date("2026-11-25T14:00:00.000Z")),
    { topic: "dlq", key: "x", value: "not a letter" },
  ]));
  assert.deepEqual(letters.map((l) => [l.id, l.replayedAt]), [
    ["order_requests/1/7", "2026-11-25T14:00:00.000Z"],
    ["order_requests/1/9", undefined],
  ]);
  assert.deepEqual(letters[0]!.position, { partition: 0, offset: "1" });
  assert.equal(letters[0]!.traceparent, TRACEPARENT);
  assert.equal(copies, 1);
  assert.equal(unreadable, 1);
});

Deno.test("describeLetter() and letterJson() print no personal data unless asked", async (t) => {
  const oldReason =
    `Cannot parse record: invalid JSON: Unexpected token 'o', "nope ana.perez@example.cl" is not valid JSON`;
  const { letters } = collectLetters(asRead([
    letterOf("7", "2026-11-25T12:00:01.000Z"),
    letterOf("8", "2026-11-25T12:00:02.000Z", "nope ana.perez@example.cl", oldReason),
  ]));
  await t.step("by default: id, time, status and reason only", () => {
    const text = letters.map((l) => describeLetter(l)).join("\n") +
      letters.map((l) => JSON.stringify(letterJson(l))).join("\n");
    assert.doesNotMatch(text, /ana|Pérez|example\.cl|12990/i);
    assert.equal(
      describeLetter(letters[0]!),
      "order_requests/1/7  2026-11-25T12:00:01.000Z  set aside  " +
        "Cannot parse record: schema mismatch: order.price: Invalid input",
    );
    assert.equal(
      describeLetter(letters[1]!),
      "order_requests/1/8  2026-11-25T12:00:02.000Z  set aside  " +
        "Cannot parse record: invalid JSON: Unexpected token 'o', the value is not valid JSON",
    );
    assert.deepEqual(letterJson(letters[0]!), {
      id: "order_requests/1/7",
      source: { topic: "order_requests", partition: 1, offset: "7" },
      deadLetter: { partition: 0, offset: "0" },
      at: "2026-11-25T12:00:01.000Z",
      reason: "Cannot parse record: schema mismatch: order.price: Invalid input",
      replayedAt: null,
    });
  });
  await t.step("with showValues: the key and value too", () => {
    const text = describeLetter(letters[0]!, { showValues: true });
    assert.match(text, /\n {2}key: "o-1"\n {2}value: ".*ana\.perez@example\.cl/);
    assert.equal(letterJson(letters[1]!, { showValues: true }).value, "nope ana.perez@example.cl");
    assert.equal(letterJson(letters[1]!, { showValues: true }).reason, oldReason);
  });
});

Deno.test("replayRecords() writes the record back as it was, or with a value given, and marks it", () => {
  const [letter] = collectLetters(asRead([letterOf("7", "2026-11-25T12:00:01.000Z")])).letters;
  const now = new Date("2026-11-26T09:00:00.000Z");
  const { record, mark } = replayRecords(letter!, "dlq", undefined, now);
  assert.deepEqual(record, {
    topic: "order_requests",
    key: "o-1",
    value: PERSONAL,
    headers: { traceparent: TRACEPARENT, [REPLAY_OF]: "order_requests/1/7" },
  });
  assert.deepEqual(mark, {
    topic: "dlq",
    key: "order_requests/1/7",
    value: JSON.stringify({
      v: 1,
      type: "DeadLetterReplayed",
      source: { topic: "order_requests", partition: 1, offset: "7" },
      value: "original",
      at: "2026-11-26T09:00:00.000Z",
    }),
  });
  const fixed = replayRecords(letter!, "dlq", '{"fixed":true}', now);
  assert.equal(fixed.record.value, '{"fixed":true}');
  assert.equal(JSON.parse(fixed.mark.value).value, "replaced");
});

Deno.test("replayRecords() refuses a record without a key, and a tombstone without a value given", () => {
  const [tombstone] = collectLetters(asRead([letterOf("7", "2026-11-25T12:00:01.000Z", null)]))
    .letters;
  assert.throws(() => replayRecords(tombstone!, "dlq"), {
    name: "TypeError",
    message: "Cannot replay order_requests/1/7: the record was a tombstone (no value); give one",
  });
  assert.equal(replayRecords(tombstone!, "dlq", "{}").record.value, "{}");
  const keyless = { ...tombstone!, letter: { ...tombstone!.letter, key: null } };
  assert.throws(() => replayRecords(keyless, "dlq", "{}"), {
    name: "TypeError",
    message:
      "Cannot replay order_requests/1/7: the record had no key, and the seam writes keyed records only",
  });
});

Deno.test("selectForReplay() picks by id or source topic, and skips what was replayed unless again", async (t) => {
  const { letters } = collectLetters(asRead([
    letterOf("1", "2026-11-25T12:00:01.000Z"),
    letterOf("2", "2026-11-25T12:00:02.000Z"),
    letterOf("3", "2026-11-25T12:00:03.000Z", PERSONAL, "r", "purchase_events"),
    deadLetterReplayedRecord(
      "dlq",
      { topic: "order_requests", partition: 1, offset: "2" },
      "original",
    ),
  ]));
  const ids = (ls: { id: string }[]) => ls.map((l) => l.id);
  const cases: [string, Parameters<typeof selectForReplay>[1], string[], string[], string[]][] = [
    [
      "by id",
      { ids: ["order_requests/1/1", "order_requests/1/1"] },
      ["order_requests/1/1"],
      [],
      [],
    ],
    ["an unknown id", { ids: ["order_requests/1/9"] }, [], [], ["order_requests/1/9"]],
    ["all from a topic, less the replayed", { allFrom: "order_requests" }, ["order_requests/1/1"], [
      "order_requests/1/2",
    ], []],
    ["again", { ids: ["order_requests/1/2"], again: true }, ["order_requests/1/2"], [], []],
    ["another topic", { allFrom: "purchase_events" }, ["purchase_events/1/3"], [], []],
  ];
  for (const [name, selection, replay, skipped, unknown] of cases) {
    await t.step(name, () => {
      const s = selectForReplay(letters, selection);
      assert.deepEqual([ids(s.replay), ids(s.skipped), s.unknown], [replay, skipped, unknown]);
    });
  }
});
