/**
 * No import cycle among the project's own modules, type imports included: every `.ts` file's
 * `import`, `import type`, `export … from` and literal `import("./x.ts")` of a relative specifier
 * is an edge, and a cycle fails the test with its path.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
/** Folders that hold no source of ours (dependencies, caches, build and run output). */
const SKIP = new Set([".git", "node_modules", ".cache", "dist", "outbox", "bench/results"]);

const FROM = String.raw`\s*from\s*["'](\.{1,2}\/[^"']+)["']`;
const STATIC = [
  // import x, { a, b } from "./m.ts" · import type { T } from "./m.ts" · import * as m from "./m.ts"
  new RegExp(
    String.raw`^\s*import\s+(?:type\s+)?(?:[\w$]+\s*,?\s*)?(?:\*\s*as\s+[\w$]+|\{[^}]*\})?` + FROM,
    "gm",
  ),
  // export * from "./m.ts" · export type { T } from "./m.ts" · export { a } from "./m.ts"
  new RegExp(String.raw`^\s*export\s+(?:type\s+)?(?:\*(?:\s*as\s+[\w$]+)?|\{[^}]*\})` + FROM, "gm"),
  // import "./m.ts"
  /^\s*import\s*["'](\.{1,2}\/[^"']+)["']/gm,
  // await import("./m.ts"), outside comments: a role loaded on demand is still a dependency
  /^(?!\s*(?:\*|\/\/))[^\n]*?\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/gm,
];

/** The relative specifiers a module's source imports or re-exports, in source order. */
function importsOf(source: string): string[] {
  return STATIC.flatMap((re) => [...source.matchAll(re)].map((m) => ({ at: m.index, to: m[1]! })))
    .sort((a, b) => a.at - b.at).map((m) => m.to);
}

/**
 * The cycles of a graph, each as the path that closes it (`a → b → a`), one per edge that
 * leads back into the path being walked.
 */
function cyclesOf(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const done = new Set<string>();
  const path: string[] = [];
  const cycles: string[][] = [];
  const visit = (node: string) => {
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const at = path.indexOf(next);
      if (at >= 0) cycles.push([...path.slice(at), next]);
      else if (!done.has(next)) visit(next);
    }
    path.pop();
    done.add(node);
  };
  for (const node of [...graph.keys()].sort()) if (!done.has(node)) visit(node);
  return cycles;
}

/** Every `.ts` file of the repository (paths relative to its root) and the `.ts` files it imports. */
async function importGraph(): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
      const path = `${dir}${entry.name}`;
      if (entry.isDirectory && !SKIP.has(path)) await walk(`${path}/`);
      if (!entry.isFile || !path.endsWith(".ts")) continue;
      const source = await Deno.readTextFile(new URL(path, ROOT));
      const targets = importsOf(source)
        .map((spec) => new URL(spec, new URL(path, ROOT)).href.slice(ROOT.href.length))
        // Text and JSON assets (`with { type: "text" }`) import nothing back.
        .filter((target) => target.endsWith(".ts"));
      graph.set(path, [...new Set(targets)]);
    }
  };
  await walk("");
  return graph;
}

Deno.test("importsOf() finds imports, type imports, re-exports and literal dynamic imports, relative only", () => {
  const source = [
    `import { z } from "zod";`,
    `import type { Config } from "../config.ts";`,
    `import {`,
    `  a,`,
    `  type B,`,
    `} from "./multi.ts";`,
    `import def, { c } from "./default.ts";`,
    `import * as ns from "./ns.ts";`,
    `import "./side_effect.ts";`,
    `import page from "./page.html" with { type: "text" };`,
    `export * from "./all.ts";`,
    `export type { T } from "./types.ts";`,
    ` * import { example } from "./in_a_doc_comment.ts";`,
    ` * roles load with \`import("./in_a_doc_comment.ts")\``,
    `  const lazy = await import("./dynamic.ts");`,
    `const chosen = await import(name);`,
  ].join("\n");
  assert.deepEqual(importsOf(source), [
    "../config.ts",
    "./multi.ts",
    "./default.ts",
    "./ns.ts",
    "./side_effect.ts",
    "./page.html",
    "./all.ts",
    "./types.ts",
    "./dynamic.ts",
  ]);
});

Deno.test("cyclesOf() finds a planted cycle with its path, and none in a tree", () => {
  const planted = new Map([
    ["a.ts", ["b.ts"]],
    ["b.ts", ["c.ts", "d.ts"]],
    ["c.ts", ["a.ts"]],
    ["d.ts", []],
  ]);
  assert.deepEqual(cyclesOf(planted), [["a.ts", "b.ts", "c.ts", "a.ts"]]);
  assert.deepEqual(cyclesOf(new Map([["a.ts", ["b.ts", "c.ts"]], ["b.ts", ["c.ts"]]])), []);
});

Deno.test("the project's modules import one another without a cycle, types included", async () => {
  const graph = await importGraph();
  assert.ok(graph.has("lib/config.ts") && graph.has("bench/run.ts"), "the walk found the source");
  const cycles = cyclesOf(graph).map((c) => c.join(" → "));
  assert.deepEqual(cycles, [], `import cycles:\n${cycles.join("\n")}`);
});
