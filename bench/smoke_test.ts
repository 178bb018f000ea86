import assert from "node:assert/strict";
import { testBrokers, testClientName } from "../infra/testing.ts";
import { runBench } from "./run.ts";

Deno.test({
  name: "runBench() smoke: one scenario of 10 orders finalizes them all and writes its results",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const outDir = await Deno.makeTempDir({ prefix: "despacho-bench-smoke-" });
    const { dir, report, text } = await runBench({
      datasets: [100],
      loads: ["constant"],
      partitions: [1],
      workers: { 1: 1 },
      rate: 50,
      dwellMs: 0,
      clients: [testClientName()],
      runs: 1,
      brokers: await testBrokers(),
      scenarios: true,
      capacity: false,
      intake: false,
      purchases: false,
      failover: false,
      outDir,
      limit: 10,
    }, () => {});
    const [run] = report.runs;
    const [scenario] = run!.scenarios;
    assert.equal(run!.scenarios.length, 1);
    assert.deepEqual([
      scenario!.orders,
      scenario!.accepted,
      scenario!.finalized,
      scenario!.duplicates,
    ], [10, 10, 10, 0]);
    assert.ok(scenario!.latency.finalizado.mean > 0);
    assert.ok(scenario!.warmup!.rounds >= 3);
    assert.ok(scenario!.cost.gateway!.cpuS > 0);
    assert.ok(scenario!.cost.notification!.peakRssMiB > 0);
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    assert.equal(saved.samples[`${testClientName()}/1/100-constant-1`].length, 10);
    assert.match(await Deno.readTextFile(`${dir}/100-constant-1-over-time.svg`), /^<svg/);
    assert.match(text, /\| Carga \(constant\) \| — \[190 ms\] \| [0-9.]+ ms \[200 ms\] \|/);
  },
});
