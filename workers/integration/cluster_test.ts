import assert from "node:assert/strict";
import { startKafka } from "../../infra/kafka.ts";
import { readTopic, testKafka, uniqueName } from "../../infra/testing.ts";

Deno.test({
  name:
    "three brokers: kill -9 the leader of a replication-3 topic mid-stream; every acknowledged record is read back, none twice",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // A cluster of its own: this test kills one of its nodes.
    const dataDir = await Deno.makeTempDir({ prefix: "despacho-cluster-" });
    const cluster = await startKafka({
      nodes: 3,
      port: 0,
      dataDir,
      memoryData: true,
      say: () => {},
    });
    const kafka = testKafka(cluster.brokers);
    const topic = uniqueName("durable");
    try {
      await kafka.ensureTopics([{
        name: topic,
        partitions: 3,
        replicationFactor: 3,
        configs: { "min.insync.replicas": "2" },
      }], { timeoutMs: 120_000 });
      const [p0] = await kafka.describeTopic(topic);
      assert.deepEqual(p0?.replicas.length, 3, "three replicas");
      const victim = cluster.nodes.find((n) => n.id === p0!.leader)!;

      const producer = kafka.producer();
      await producer.connect();
      const acknowledged: string[] = [];
      let failed = 0;
      const send = async (i: number) => {
        const batch = Array.from({ length: 20 }, (_, j) => ({
          topic,
          key: `k${i}-${j}`,
          value: `${i}-${j}`,
        }));
        try {
          await producer.send(batch);
          acknowledged.push(...batch.map((r) => r.value));
        } catch {
          failed += batch.length; // not acknowledged: may or may not be there, never counted
        }
      };
      for (let i = 0; i < 50; i++) {
        await send(i);
        if (i === 15) await victim.kill("SIGKILL");
        if (i === 35) await victim.start();
      }
      await producer.close();

      const records = await readTopic(cluster.brokers, topic, acknowledged.length, 120_000, 2_000);
      const seen = new Map<string, number>();
      for (const r of records) seen.set(r.value, (seen.get(r.value) ?? 0) + 1);
      const lost = acknowledged.filter((v) => !seen.has(v));
      const twice = [...seen].filter(([, n]) => n > 1).map(([v]) => v);
      assert.deepEqual({ lost: lost.slice(0, 10), twice: twice.slice(0, 10) }, {
        lost: [],
        twice: [],
      });
      assert.ok(acknowledged.length >= 500, `${acknowledged.length} acknowledged, ${failed} not`);
      const after = await kafka.describeTopic(topic);
      assert.ok(after.every((p) => p.leader >= 0), "every partition has a leader again");
    } finally {
      await kafka.close();
      await cluster.remove();
    }
  },
});
