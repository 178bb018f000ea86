import assert from "node:assert/strict";
import { clusterId } from "./kafka.ts";

Deno.test("clusterId() gives 22 URL-safe characters and never one that starts with '-'", () => {
  // 0xf8… encodes to "-…" in URL-safe base64: such draws are skipped, as Kafka's Uuid does.
  const draws = [new Uint8Array(16).fill(0xf8), new Uint8Array(16).fill(0x1f)];
  const id = clusterId(() => draws.shift()!);
  assert.equal(id, "Hx8fHx8fHx8fHx8fHx8fHw");
  assert.equal(draws.length, 0, "the id starting with '-' was drawn again");
  for (let i = 0; i < 1000; i++) {
    const random = clusterId();
    assert.match(random, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  }
});
