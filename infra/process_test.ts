import assert from "node:assert/strict";
import { waitFor } from "../lib/wait.ts";
import { spawnDeno } from "./process.ts";

const printer = (word: string) => [
  "eval",
  `console.error("${word} ready"); console.error("${word} working"); setTimeout(() => {}, 60_000);`,
];

async function until(path: string, want: string): Promise<string> {
  return await waitFor(`${want} in ${path}`, async () => {
    const text = await Deno.readTextFile(path).catch(() => "");
    return text.includes(want) ? { ready: true, value: text } : { ready: false, why: text };
  }, { timeoutMs: 30_000, intervalMs: 50 });
}

Deno.test("spawnDeno() keeps every stderr line in logFile, a restart appending", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/nested/child.log`;
  try {
    for (const word of ["first", "second"]) {
      const proc = await spawnDeno(word, printer(word), {}, /ready/, { logFile: path });
      await until(path, `${word} working`);
      await proc.stop();
    }
    assert.equal(
      await Deno.readTextFile(path),
      "first ready\nfirst working\nsecond ready\nsecond working\n",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spawnDeno() starts the child when its logFile cannot be made, and says so", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/file`, "");
  const said: string[] = [];
  const error = console.error;
  console.error = (line: string) => said.push(line);
  try {
    const proc = await spawnDeno("child", printer("only"), {}, /ready/, {
      logFile: `${dir}/file/child.log`, // under a file: no folder can be made
    });
    await proc.stop();
  } finally {
    console.error = error;
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(said.length, 1);
  assert.match(said[0]!, new RegExp(`^Cannot keep the output in ${dir}/file/child.log: `));
});
