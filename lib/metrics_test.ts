import assert from "node:assert/strict";
import { DEAD_LETTER_REASONS, deadLetters, registry, zeroDeadLetters } from "./metrics.ts";

Deno.test("zeroDeadLetters() starts every reason of each input topic at 0, and counts stay", async () => {
  zeroDeadLetters(["t-zero-a", "t-zero-b"]);
  const text = await registry.metrics();
  for (const topic of ["t-zero-a", "t-zero-b"]) {
    for (const reason of DEAD_LETTER_REASONS) {
      assert.ok(
        text.includes(`despacho_dead_letters_total{topic="${topic}",reason="${reason}"} 0\n`),
        `${topic} ${reason} at 0`,
      );
    }
  }
  // A role started again in the same process does not wipe what was counted.
  deadLetters.labels("t-zero-a", "invalid_json").inc();
  zeroDeadLetters(["t-zero-a"]);
  assert.ok(
    (await registry.metrics()).includes(
      `despacho_dead_letters_total{topic="t-zero-a",reason="invalid_json"} 1\n`,
    ),
  );
});
