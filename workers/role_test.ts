import assert from "node:assert/strict";
import { onAbort } from "./role.ts";

Deno.test("onAbort() runs its function on abort, at once when already aborted, and never once forgotten", () => {
  const calls: string[] = [];
  const stop = new AbortController();
  const forget = onAbort(stop.signal, () => calls.push("forgotten"));
  onAbort(stop.signal, () => calls.push("kept"));
  forget(); // the role ended (a restart in the same process follows)
  stop.abort();
  assert.deepEqual(calls, ["kept"]);
  onAbort(stop.signal, () => calls.push("late"))();
  assert.deepEqual(calls, ["kept", "late"]);
});
