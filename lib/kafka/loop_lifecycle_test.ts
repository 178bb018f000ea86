import assert from "node:assert/strict";
import { createLogger } from "../log.ts";
import { WaitTimeoutError } from "../wait.ts";
import { loopLifecycle, waitAtStartup } from "./loop_lifecycle.ts";

Deno.test("loopLifecycle() resolves done once stopped, and runs the closing steps once", async () => {
  let closes = 0;
  const end = loopLifecycle(Promise.resolve(), () => {
    closes++;
    return Promise.resolve();
  });
  let settled = false;
  end.done.then(() => settled = true);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(settled, false, "a running loop is not done");
  await Promise.all([end.stop(), end.stop()]);
  await end.done;
  assert.equal(closes, 1);
});

Deno.test("loopLifecycle() rejects done with the first fatal error, or with a failed start", async () => {
  const fenced = new Error("PRODUCER_FENCED");
  const end = loopLifecycle(Promise.resolve(), () => Promise.resolve());
  end.fail(fenced);
  end.fail(new Error("later"));
  await assert.rejects(end.done, (e) => e === fenced);

  const refused = new Error("Cannot join the group");
  const failed = loopLifecycle(Promise.reject(refused), () => Promise.resolve());
  await assert.rejects(failed.done, (e) => e === refused);
});

Deno.test("waitAtStartup() polls until ready, and ends at its ceiling or when the loop stops", async (t) => {
  const log = createLogger("loop", "error", () => {});
  const running = new AbortController().signal;
  await t.step("ready after a failed poll", async () => {
    let polls = 0;
    const value = await waitAtStartup("the producer to initialise", 1, () => {
      if (++polls === 1) return Promise.reject(new Error("COORDINATOR_NOT_AVAILABLE"));
      return Promise.resolve({ ready: true, value: polls });
    }, { timeoutMs: 1000, log, signal: running });
    assert.equal(value, 2);
  });
  await t.step("gives up at the ceiling, saying what and why", async () => {
    await assert.rejects(
      waitAtStartup(
        "this instance to join its consumer group",
        1,
        () => Promise.resolve({ ready: false, why: "group g" }),
        { timeoutMs: 20, log, signal: running },
      ),
      (e) =>
        e instanceof WaitTimeoutError && /join its consumer group/.test(e.message) &&
        /group g/.test(e.message),
    );
  });
  await t.step("ends at once when the loop is stopped", async () => {
    const stopping = new AbortController();
    const stopped = new Error("stopped");
    stopping.abort(stopped);
    await assert.rejects(
      waitAtStartup("the group", 1, () => Promise.resolve({ ready: false }), {
        timeoutMs: 60_000,
        log,
        signal: stopping.signal,
      }),
      (e) => e === stopped,
    );
  });
});
