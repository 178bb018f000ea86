import assert from "node:assert/strict";
import { progress } from "./progress.ts";

Deno.test("progress() prints a line every tenth off a terminal, and redraws in place on one", () => {
  const lines: string[] = [];
  const p = progress("load", 100, (t) => lines.push(t), false);
  for (let i = 0; i <= 100; i++) p.update(i);
  p.done();
  assert.equal(lines.length, 11);
  assert.equal(lines[10], "load [##############################] 100/100 100%\n");
  const screen: string[] = [];
  const bar = progress("x", 2, (t) => screen.push(t), true);
  bar.update(1, "1 error");
  bar.done("ok");
  assert.deepEqual(screen, [
    "\rx [###############...............] 1/2 50% 1 error\x1b[K",
    "\rx [###############...............] 1/2 50% ok\x1b[K\n",
  ]);
});
