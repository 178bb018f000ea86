/**
 * `deno task dead-letters`: what the roles set aside on the dead-letter topic, and writing chosen
 * records back to their source topic once their cause is fixed.
 *
 *   deno task dead-letters list [--topic T] [--limit N] [--show-values] [--json]
 *   deno task dead-letters replay ID... [--value-file PATH] [--again] [--dry-run]
 *   deno task dead-letters replay --all-from TOPIC [--again] [--dry-run]
 *
 * An ID is the source position `{topic}/{partition}/{offset}` that `list` prints. The listing
 * prints no key or value (they may hold names and emails) unless `--show-values`. Configuration
 * is the roles' (`KAFKA_BROKERS`, `KAFKA_CLIENT`, `TOPIC_DEAD_LETTER`, …). Exit codes: 0 done,
 * 1 some letter could not be replayed (or an id matches none), 2 bad usage or configuration.
 * How a replay twice is avoided: `lib/dead_letters.ts`.
 */
import { parseArgs } from "node:util";
import { configOrExit } from "./entrypoint.ts";
import {
  describeLetter,
  type Letter,
  letterJson,
  readDeadLetters,
  replayRecords,
  selectForReplay,
} from "../lib/dead_letters.ts";
import { createKafkaClient, type KafkaClient } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";

const USAGE = `usage:
  deno task dead-letters list [--topic T] [--limit N] [--show-values] [--json]
  deno task dead-letters replay ID... [--value-file PATH] [--again] [--dry-run]
  deno task dead-letters replay --all-from TOPIC [--again] [--dry-run]
ID is {topic}/{partition}/{offset} of the record set aside, as list prints it`;

function usage(message: string): never {
  console.error(`${message}\n${USAGE}`);
  Deno.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      topic: { type: "string" },
      limit: { type: "string", default: "100" },
      "show-values": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      "all-from": { type: "string" },
      "value-file": { type: "string" },
      again: { type: "boolean", default: false },
      "dry-run": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
} catch (error) {
  usage((error as Error).message);
}
const { values: args, positionals } = parsed;
if (args.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const [command, ...ids] = positionals;
if (command !== "list" && command !== "replay") {
  usage(
    `Cannot run dead-letters: the command must be list or replay: current value is "${
      command ?? ""
    }"`,
  );
}
const limit = Number(args.limit);
if (!Number.isInteger(limit) || limit < 1) {
  usage(
    `Cannot list dead letters: --limit must be a whole number from 1: current value is "${args.limit}"`,
  );
}
if (command === "replay") {
  if (ids.length === 0 && args["all-from"] === undefined) {
    usage("Cannot replay: name the letters (their ids) or a source topic (--all-from)");
  }
  if (args["value-file"] !== undefined && (ids.length !== 1 || args["all-from"] !== undefined)) {
    usage(
      "Cannot replay with --value-file: it replaces the value of exactly one letter, named by its id",
    );
  }
}

const config = configOrExit();
// The clients' own log lines, warnings and above, on stderr: stdout is the listing.
const log = createLogger("dead-letters", config.LOG_LEVEL === "debug" ? "debug" : "warn");
const kafka = createKafkaClient(config, log);
const stop = new AbortController();
Deno.addSignalListener("SIGINT", () => stop.abort(new Error("Interrupted")));

let code = 0;
try {
  const { letters, copies, unreadable } = await readDeadLetters(
    kafka,
    config.TOPIC_DEAD_LETTER,
    stop.signal,
  );
  if (unreadable > 0) {
    console.error(`${unreadable} records of ${config.TOPIC_DEAD_LETTER} are not dead letters`);
  }
  if (command === "list") list(letters, copies);
  else code = await replay(kafka, config.TOPIC_DEAD_LETTER, letters);
} catch (error) {
  console.error(`Cannot read ${config.TOPIC_DEAD_LETTER}: ${(error as Error).message}`);
  code = 1;
} finally {
  await kafka.close();
}
Deno.exit(code);

function list(letters: Letter[], copies: number): void {
  const mine = args.topic === undefined
    ? letters
    : letters.filter((l) => l.letter.source.topic === args.topic);
  const shown = mine.slice(-limit);
  const options = { showValues: args["show-values"] };
  if (args.json) {
    for (const l of shown) console.log(JSON.stringify(letterJson(l, options)));
    return;
  }
  console.log("ID  SET ASIDE AT  STATUS  REASON");
  for (const l of shown) console.log(describeLetter(l, options));
  const replayed = mine.filter((l) => l.replayedAt !== undefined).length;
  console.log(
    `${mine.length} dead letters${args.topic === undefined ? "" : ` from ${args.topic}`}` +
      `${shown.length < mine.length ? ` (the last ${shown.length} shown)` : ""}, ` +
      `${replayed} replayed${copies > 0 ? `; ${copies} copies of a letter not shown` : ""}`,
  );
}

async function replay(
  kafka: KafkaClient,
  deadLetterTopic: string,
  letters: Letter[],
): Promise<number> {
  const selected = selectForReplay(letters, {
    ids,
    ...(args["all-from"] === undefined ? {} : { allFrom: args["all-from"] }),
    again: args.again,
  });
  let code = 0;
  for (const id of selected.unknown) {
    console.error(`Cannot replay ${id}: no dead letter has this id`);
    code = 1;
  }
  for (const l of selected.skipped) {
    console.log(`${l.id}: replayed before (${l.replayedAt}), not again (--again replays it)`);
  }
  const replacement = args["value-file"] === undefined
    ? undefined
    : await Deno.readTextFile(args["value-file"]);
  const producer = kafka.producer();
  let connected = false;
  try {
    for (const l of selected.replay) {
      let records;
      try {
        records = replayRecords(l, deadLetterTopic, replacement);
      } catch (error) {
        console.error((error as Error).message);
        code = 1;
        continue;
      }
      const what = `${l.id} to ${l.letter.source.topic}${
        replacement === undefined ? "" : " (with the value given)"
      }`;
      if (args["dry-run"]) {
        console.log(`would replay ${what}`);
        continue;
      }
      if (!connected) {
        await producer.connect();
        connected = true;
      }
      // The record first, then the mark: a stop between the two replays it again next time,
      // rather than never.
      await producer.send([records.record]);
      await producer.send([records.mark]);
      console.log(`replayed ${what}`);
    }
  } finally {
    if (connected) await producer.close();
  }
  if (selected.replay.length === 0 && selected.unknown.length === 0) {
    console.log("nothing to replay");
  }
  return code;
}
