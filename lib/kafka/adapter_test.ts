import assert from "node:assert/strict";
import { SEND_RETRY_DELAY_MS, sendRetries } from "./adapter.ts";

Deno.test("sendRetries() spans the send retry window, never fewer than five tries", () => {
  for (const ms of [1, 1000, 5000, 5001, 10_000, 120_000]) {
    const retries = sendRetries(ms);
    assert.ok(retries * SEND_RETRY_DELAY_MS >= ms, `${retries} tries for ${ms} ms`);
    assert.ok((retries - 1) * SEND_RETRY_DELAY_MS < Math.max(ms, 5 * SEND_RETRY_DELAY_MS));
    assert.ok(retries >= 5);
  }
  assert.equal(sendRetries(), 20, "the default 5 s acknowledgement wait");
});
