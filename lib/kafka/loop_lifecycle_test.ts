import assert from "node:assert/strict";
import { loopLifecycle } from "./loop_lifecycle.ts";

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
