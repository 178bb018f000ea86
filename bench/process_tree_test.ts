import assert from "node:assert/strict";
import { parseProcStats, sampleTree, treeTotals } from "./process_tree.ts";

/** A `/proc/<pid>/stat` line with the fields the module reads. */
const stat = (pid: number, name: string, ppid: number, utime: number, rss: number) =>
  `${pid} (${name}) S ${ppid} ${pid} ${ppid} 0 -1 4194560 0 0 0 0 ${utime} 1 2 3 20 0 30 0 100 9000000 ${rss} 18446744073709551615`;

Deno.test("parseProcStats() reads names with spaces and parentheses, and skips noise", () => {
  const text = [stat(7, "deno task", 1, 10, 50), stat(8, "a) (b", 7, 0, 1), "garbage", ""].join(
    "\n",
  );
  assert.deepEqual(parseProcStats(text), [
    { pid: 7, name: "deno task", ppid: 1, ticks: 16, rssPages: 50 },
    { pid: 8, name: "a) (b", ppid: 7, ticks: 6, rssPages: 1 },
  ]);
});

Deno.test("treeTotals() sums a process and its descendants only", async (t) => {
  const all = parseProcStats([
    stat(1, "init", 0, 1000, 1000),
    stat(10, "python3", 1, 10, 100),
    stat(11, "java", 10, 90, 900),
    stat(12, "java-child", 11, 4, 4),
    stat(20, "other", 1, 500, 500),
  ].join("\n"));
  await t.step("a tree", () => {
    const got = treeTotals(all, 10);
    assert.equal(got.ticks, 16 + 96 + 10);
    assert.equal(got.rssPages, 1004);
    assert.deepEqual(got.processes.map((p) => p.name), ["python3", "java", "java-child"]);
  });
  await t.step("a root that is gone", () => {
    assert.deepEqual(treeTotals(all, 99), { ticks: 0, rssPages: 0, processes: [] });
  });
});

Deno.test("sampleTree() measures this process", async () => {
  const s = await sampleTree(Deno.pid);
  assert.equal(s.processes[0]?.pid, Deno.pid);
  assert.ok(s.cpuSeconds > 0, `cpuSeconds ${s.cpuSeconds}`);
  assert.ok(s.rssBytes > 10 * 2 ** 20, `rssBytes ${s.rssBytes}`);
});
