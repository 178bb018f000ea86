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
  const inside = new Set<string>();
  for await (const path of sources(ROOT)) {
    const found = CLIENT_IMPORT.exec(await Deno.readTextFile(path));
    if (found === null) continue;
    const file = relative(ROOT, path);
    if (file.startsWith(SEAM)) inside.add(found[2] ?? found[4]!);
    else outside.push(file);
  }
  assert.deepEqual(outside, []);
  assert.deepEqual([...inside].sort(), ["@platformatic/kafka", "kafkajs"], "the seam imports both");
});
