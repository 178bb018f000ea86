import assert from "node:assert/strict";
import { relative } from "node:path";

const ROOT = new URL("../../", import.meta.url).pathname;
const SEAM = "lib/kafka/";
const SKIP = new Set(["node_modules", ".cache", "dist", ".git"]);
const CLIENT_IMPORT =
  /\bfrom\s+["'](npm:)?(@platformatic\/kafka|kafkajs)\b|import\(\s*["'](npm:)?(@platformatic\/kafka|kafkajs)\b/;

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    if (SKIP.has(entry.name)) continue;
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) yield* sources(`${path}/`);
    else if (/\.(ts|tsx|js|mjs)$/.test(entry.name)) yield path;
  }
}

Deno.test("the Kafka client libraries are imported only inside lib/kafka/, the one seam", async () => {
  const outside: string[] = [];
  let inside = 0;
  for await (const path of sources(ROOT)) {
    if (!CLIENT_IMPORT.test(await Deno.readTextFile(path))) continue;
    const file = relative(ROOT, path);
    if (file.startsWith(SEAM)) inside++;
    else outside.push(file);
  }
  assert.deepEqual(outside, []);
  assert.ok(inside >= 2, `the seam itself imports both clients (found ${inside} files)`);
});
