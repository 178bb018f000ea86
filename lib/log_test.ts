import assert from "node:assert/strict";
import { createLogger } from "./log.ts";

function logged(data: Record<string, unknown>, level: "debug" | "info" = "info") {
  const lines: string[] = [];
  const log = createLogger("t", level, (line) => lines.push(line));
  log.debug("hidden");
  log.warn("shown", data);
  return lines.map((l) => JSON.parse(l));
}

Deno.test("log: one JSON line per entry at or above the level, with its namespace and data", () => {
  const [entry, ...rest] = logged({ n: 1n, topic: "a" });
  assert.deepEqual(rest, []);
  assert.equal(entry.level, "warn");
  assert.equal(entry.ns, "t");
  assert.equal(entry.msg, "shown");
  assert.equal(entry.n, "1");
  assert.equal(entry.topic, "a");
  assert.equal(logged({}, "debug").length, 2);
});

Deno.test("log: an error shows the protocol error names in its causes (a wrapper says only that a request failed)", () => {
  // Shaped as @platformatic/kafka reports a refused request (only lib/kafka imports a client).
  const protocol = (apiId: string) => Object.assign(new Error(apiId), { apiId });
  const wrapped = new Error("outer", {
    cause: new AggregateError(
      [protocol("FENCED_INSTANCE_ID"), protocol("FENCED_INSTANCE_ID"), protocol("NOT_COORDINATOR")],
      "Received response with error while executing API X",
    ),
  });
  const kafkajsLike = Object.assign(new Error("kafkajs"), { type: "PRODUCER_FENCED" });
  const [entry] = logged({ error: wrapped, other: kafkajsLike, plain: new TypeError("x") });
  assert.deepEqual(entry.error, {
    name: "Error",
    message: "outer",
    codes: ["FENCED_INSTANCE_ID", "NOT_COORDINATOR"],
  });
  assert.deepEqual(entry.other.codes, ["PRODUCER_FENCED"]);
  assert.deepEqual(entry.plain, { name: "TypeError", message: "x" });
});
