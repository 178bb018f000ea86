import assert from "node:assert/strict";
import { activeController, appendAll, clusterId } from "./kafka.ts";

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

Deno.test("activeController() names the node that became quorum leader at the highest epoch", () => {
  const leader = (epoch: number) =>
    `[2026-12-06 05:00:00,000] INFO [RaftManager id=1] Completed transition to Leader(localVoterNode=x, epoch=${epoch}, epochStartOffset=0, highWatermark=Optional.empty, voterStates={}) from Candidate(…) (org.apache.kafka.raft.QuorumState)`;
  const follower = (epoch: number) =>
    `[2026-12-06 05:00:00,000] INFO Completed transition to FollowerState(fetchTimeoutMs=2000, epoch=${epoch}, leader=1) from Unattached(…) (org.apache.kafka.raft.QuorumState)`;
  assert.equal(
    activeController([
      { id: 1, text: [leader(1), follower(2)].join("\n") },
      { id: 2, text: [follower(1), leader(2), leader(10)].join("\n") },
      { id: 3, text: [follower(1), leader(9), follower(10)].join("\n") },
    ]),
    2,
  );
  assert.equal(activeController([{ id: 1, text: follower(3) }, { id: 2, text: "" }]), null);
});

Deno.test("appendAll() writes a running child's stdout and stderr to one file as they come", async () => {
  const dir = await Deno.makeTempDir();
  const log = await Deno.open(`${dir}/node.log`, { create: true, append: true });
  const child = new Deno.Command("sh", {
    args: ["-c", "echo out; echo err >&2; exec sleep 30"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const done = Promise.all([appendAll(child.stdout, log), appendAll(child.stderr, log)]);
  try {
    let text = "";
    for (let i = 0; i < 200 && !(text.includes("out") && text.includes("err")); i++) {
      await new Promise((r) => setTimeout(r, 50));
      text = await Deno.readTextFile(`${dir}/node.log`);
    }
    // Both lines while the child still runs (it sleeps 30 s).
    assert.deepEqual(text.split("\n").filter(Boolean).sort(), ["err", "out"]);
    assert.equal(await Promise.race([child.status.then(() => "ended"), "running"]), "running");
  } finally {
    child.kill("SIGKILL");
    await done;
    log.close();
    await Deno.remove(dir, { recursive: true });
  }
});
