/**
 * The dead-letter topic as an operator sees it: what was set aside, where from, why and when, and
 * whether it was replayed; and writing a letter's record back to its source topic
 * (`deno task dead-letters`, `infra/dead_letters.ts`).
 *
 * A replay writes the record (its key, its value or one given in its place, its `traceparent`,
 * and a `despacho-replay-of` header naming the letter), then a {@linkcode DeadLetterReplayed}
 * record keyed like the letter on the dead-letter topic. A letter so marked is skipped by the next
 * replay unless asked again, so running the same replay twice writes the record once. The two
 * writes are not one transaction: a replay stopped between them writes the record again when it
 * is run again (for `order_requests` the processing role then sets the copy aside as a duplicate).
 */
import {
  type DeadLetter,
  deadLetterReplayedRecord,
  DeadLetterReplayedSchema,
  DeadLetterSchema,
  type InRecord,
  type KafkaClient,
  type OutRecord,
  REPLAY_OF,
  withoutExcerpt,
} from "./kafka/mod.ts";
import { TRACEPARENT } from "./tracing.ts";

/** One set-aside record, as read from the dead-letter topic. */
export interface Letter {
  /** `{topic}/{partition}/{offset}` of the source record. */
  id: string;
  letter: DeadLetter;
  /** Where the letter is on the dead-letter topic. */
  position: { partition: number; offset: string };
  /** The letter record's `traceparent` (the source record's). */
  traceparent?: string;
  /** When it was last replayed, if it was. */
  replayedAt?: string;
}

/** What {@linkcode collectLetters} found. */
export interface Letters {
  /** Each set-aside record once (a later copy of the same id is counted in `copies`), oldest first. */
  letters: Letter[];
  /** Letters of an id seen before. */
  copies: number;
  /** Records of the topic that are neither a letter nor a replay mark. */
  unreadable: number;
}

/** `{topic}/{partition}/{offset}` of a source position. */
export function letterId(source: DeadLetter["source"]): string {
  return `${source.topic}/${source.partition}/${source.offset}`;
}

/**
 * Joins the dead-letter topic's records into letters and their replay marks.
 *
 * @param records The topic's records, in any partition order (offset order within one).
 * @returns The letters, oldest first by the time they were set aside.
 */
export function collectLetters(records: Iterable<InRecord>): Letters {
  const byId = new Map<string, Letter>();
  const marks: { id: string; at: string }[] = [];
  let copies = 0;
  let unreadable = 0;
  for (const r of records) {
    const json = parseJson(r.value);
    const letter = DeadLetterSchema.safeParse(json);
    if (letter.success) {
      const id = letterId(letter.data.source);
      if (byId.has(id)) copies++;
      else {
        byId.set(id, {
          id,
          letter: letter.data,
          position: { partition: r.partition, offset: r.offset },
          ...(r.headers[TRACEPARENT] === undefined ? {} : { traceparent: r.headers[TRACEPARENT] }),
        });
      }
      continue;
    }
    const mark = DeadLetterReplayedSchema.safeParse(json);
    if (mark.success) marks.push({ id: letterId(mark.data.source), at: mark.data.at });
    else unreadable++;
  }
  for (const m of marks) {
    const l = byId.get(m.id);
    if (l !== undefined && (l.replayedAt === undefined || l.replayedAt < m.at)) l.replayedAt = m.at;
  }
  const letters = [...byId.values()].sort((a, b) =>
    a.letter.at < b.letter.at ? -1 : a.letter.at > b.letter.at ? 1 : a.id < b.id ? -1 : 1
  );
  return { letters, copies, unreadable };
}

function parseJson(value: Uint8Array | null): unknown {
  if (value === null) return null;
  try {
    return JSON.parse(UTF8.decode(value));
  } catch {
    return null;
  }
}
const UTF8 = new TextDecoder();

/**
 * Reads the whole dead-letter topic as it is now (read_committed, up to each partition's end).
 *
 * @param kafka The client.
 * @param topic The dead-letter topic.
 * @param signal Stops the read.
 * @returns The letters and their replay marks.
 */
export async function readDeadLetters(
  kafka: KafkaClient,
  topic: string,
  signal?: AbortSignal,
): Promise<Letters> {
  const records: InRecord[] = [];
  for (const { partition, low, high } of await kafka.endOffsets(topic)) {
    if (BigInt(low) >= BigInt(high)) continue;
    await kafka.readRange(topic, partition, low, high, (rs) => records.push(...rs), signal);
  }
  return collectLetters(records);
}

/** How {@linkcode describeLetter} prints. */
export interface DescribeOptions {
  /** Print the record's key and value (they may hold names and emails). @default false */
  showValues?: boolean;
}

/**
 * One letter as text: id, when it was set aside, whether it was replayed, and the reason. Without
 * `showValues` it holds nothing of the record itself (its key and value may be personal data),
 * and an older reason's quoted excerpt of the value is left out.
 *
 * @param l The letter.
 * @param options Whether to print the key and value.
 * @returns One line, or three with the key and value.
 */
export function describeLetter(l: Letter, options: DescribeOptions = {}): string {
  const status = l.replayedAt === undefined ? "set aside" : `replayed ${l.replayedAt}`;
  const reason = options.showValues ? l.letter.reason : withoutExcerpt(l.letter.reason);
  const line = `${l.id}  ${l.letter.at}  ${status}  ${reason}`;
  if (!options.showValues) return line;
  return `${line}\n  key: ${JSON.stringify(l.letter.key)}\n  value: ${
    JSON.stringify(l.letter.value)
  }`;
}

/**
 * One letter as a JSON-ready object (for `--json`), without the key and value unless asked.
 *
 * @param l The letter.
 * @param options Whether to include the key and value.
 */
export function letterJson(l: Letter, options: DescribeOptions = {}): Record<string, unknown> {
  return {
    id: l.id,
    source: l.letter.source,
    deadLetter: l.position,
    at: l.letter.at,
    reason: options.showValues ? l.letter.reason : withoutExcerpt(l.letter.reason),
    replayedAt: l.replayedAt ?? null,
    ...(options.showValues ? { key: l.letter.key, value: l.letter.value } : {}),
  };
}

/**
 * The two records of one replay: the source record again, then the mark on the dead-letter topic.
 *
 * @param l The letter.
 * @param deadLetterTopic Where the mark goes.
 * @param replacement A value to write instead of the letter's (a fixed one).
 * @param now The clock.
 * @returns The record for the source topic and the mark.
 * @throws {TypeError} When the record had no key, or no value and none is given.
 */
export function replayRecords(
  l: Letter,
  deadLetterTopic: string,
  replacement?: string,
  now: Date = new Date(),
): { record: OutRecord; mark: OutRecord } {
  const { key, value } = l.letter;
  if (key === null) {
    throw new TypeError(
      `Cannot replay ${l.id}: the record had no key, and the seam writes keyed records only`,
    );
  }
  const written = replacement ?? value;
  if (written === null) {
    throw new TypeError(`Cannot replay ${l.id}: the record was a tombstone (no value); give one`);
  }
  return {
    record: {
      topic: l.letter.source.topic,
      key,
      value: written,
      headers: {
        ...(l.traceparent === undefined ? {} : { [TRACEPARENT]: l.traceparent }),
        [REPLAY_OF]: l.id,
      },
    },
    mark: deadLetterReplayedRecord(
      deadLetterTopic,
      l.letter.source,
      replacement === undefined ? "original" : "replaced",
      now,
    ),
  };
}

/** Which letters to replay. */
export interface Selection {
  /** Letter ids (`{topic}/{partition}/{offset}`). */
  ids?: readonly string[];
  /** Every letter set aside from this topic. */
  allFrom?: string;
  /** Replay letters already replayed too. @default false */
  again?: boolean;
}

/** What {@linkcode selectForReplay} decided. */
export interface Selected {
  replay: Letter[];
  /** Chosen but replayed before (and `again` not set). */
  skipped: Letter[];
  /** Ids asked for that no letter has. */
  unknown: string[];
}

/**
 * Picks the letters a replay writes back: those named, or all from one topic, less those replayed
 * before unless `again`.
 *
 * @param letters From {@linkcode collectLetters}.
 * @param selection Ids or a source topic.
 * @returns What to replay, what was replayed before, and ids that match no letter.
 */
export function selectForReplay(letters: readonly Letter[], selection: Selection): Selected {
  const byId = new Map(letters.map((l) => [l.id, l]));
  const chosen: Letter[] = [];
  const unknown: string[] = [];
  for (const id of new Set(selection.ids ?? [])) {
    const l = byId.get(id);
    if (l === undefined) unknown.push(id);
    else chosen.push(l);
  }
  if (selection.allFrom !== undefined) {
    for (const l of letters) {
      if (l.letter.source.topic === selection.allFrom && !chosen.includes(l)) chosen.push(l);
    }
  }
  const again = selection.again ?? false;
  return {
    replay: chosen.filter((l) => again || l.replayedAt === undefined),
    skipped: chosen.filter((l) => !again && l.replayedAt !== undefined),
    unknown,
  };
}
