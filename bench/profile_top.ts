/**
 * `deno task bench:profile FILE.cpuprofile… [--top 25]`: the top frames of V8 CPU profiles (what
 * `deno run --cpu-prof` writes, and `deno task bench --profile DIR` for every process it starts):
 * self time per function, self time per package or source file, and inclusive time of this
 * project's own functions. Percentages are of the profile's sampled time, idle included, so a
 * mostly idle process shows it.
 */
import { parseArgs } from "node:util";

/** The parts of a `.cpuprofile` read here. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  samples: number[];
  timeDeltas: number[];
}

/** Seconds since a profile's start: only samples in `[from, to)` count. */
export interface Window {
  from: number;
  to: number;
}

/** One row of a table: a name, its time in ms and its share of the profile. */
export interface Row {
  name: string;
  ms: number;
  pct: number;
}

/** What {@linkcode summarizeProfile} finds. */
export interface ProfileSummary {
  totalMs: number;
  /** Idle, garbage collection and the program itself: V8's `(idle)`, `(garbage collector)`. */
  selfByFunction: Row[];
  selfByPackage: Row[];
  /** Functions of this project (not `node_modules`, not Deno's own), time inside them and below. */
  inclusiveOwn: Row[];
}

/** Where a frame comes from: an npm package, a file of this project, or Deno/V8 itself. */
export function packageOf(url: string): string {
  if (url === "") return "(native / V8)";
  const npm = /node_modules\/(?:\.deno\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (npm) return `npm:${npm[1]}`;
  const registry = /registry\.npmjs\.org\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (registry) return `npm:${registry[1]}`;
  if (url.startsWith("ext:") || url.startsWith("node:")) return `deno ${url.split("/")[0]}`;
  const own = /\/(gateway|workers|lib|bench|infra|datasets)\/(.+)$/.exec(url);
  if (own) return `${own[1]}/${own[2]}`;
  return url;
}

/**
 * Self and inclusive time per frame of one or more profiles.
 *
 * @param profiles Parsed `.cpuprofile` files.
 * @param top Rows per table.
 */
export function summarizeProfile(
  profiles: readonly CpuProfile[],
  top = 25,
  window?: Window,
): ProfileSummary {
  const self = new Map<string, number>();
  const byPackage = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let totalMs = 0;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const label = (id: number) => {
      const f = byId.get(id)!.callFrame;
      const where = f.url === "" ? "" : ` ${packageOf(f.url)}:${f.lineNumber + 1}`;
      return `${f.functionName || "(anonymous)"}${where}`;
    };
    const hits = new Map<number, number>();
    let at = 0;
    profile.samples.forEach((id, i) => {
      const ms = (profile.timeDeltas[i] ?? 0) / 1000;
      at += ms;
      if (window !== undefined && (at < window.from * 1000 || at >= window.to * 1000)) return;
      hits.set(id, (hits.get(id) ?? 0) + ms);
    });
    for (const [id, ms] of hits) {
      totalMs += ms;
      const node = byId.get(id)!;
      self.set(label(id), (self.get(label(id)) ?? 0) + ms);
      const pkg = packageOf(node.callFrame.url);
      const pkgName = pkg === "(native / V8)" ? node.callFrame.functionName || pkg : pkg;
      byPackage.set(pkgName, (byPackage.get(pkgName) ?? 0) + ms);
      // Each own function on the stack once, however deep its recursion.
      const counted = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const url = byId.get(at)!.callFrame.url;
        if (!/\/(gateway|workers|lib|bench|infra|datasets)\//.test(url)) continue;
        if (url.includes("node_modules")) continue;
        const l = label(at);
        if (counted.has(l)) continue;
        counted.add(l);
        inclusive.set(l, (inclusive.get(l) ?? 0) + ms);
      }
    }
  }
  const rows = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, ms]) => ({
      name,
      ms,
      pct: totalMs === 0 ? 0 : (100 * ms) / totalMs,
    }));
  return {
    totalMs,
    selfByFunction: rows(self),
    selfByPackage: rows(byPackage),
    inclusiveOwn: rows(inclusive),
  };
}

/**
 * How busy a profile's thread was over time: the share of each `stepS` not idle.
 *
 * @returns One entry per step, from the profile's start.
 */
export function busyTimeline(profile: CpuProfile, stepS = 0.5): { atS: number; busyPct: number }[] {
  const idle = new Set(
    profile.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id),
  );
  const steps: { total: number; busy: number }[] = [];
  let at = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    at += ms;
    const k = Math.floor(at / (stepS * 1000));
    steps[k] ??= { total: 0, busy: 0 };
    steps[k].total += ms;
    if (!idle.has(id)) steps[k].busy += ms;
  });
  return Array.from(steps, (s, k) => ({
    atS: k * stepS,
    busyPct: s === undefined || s.total === 0 ? 0 : (100 * s.busy) / s.total,
  }));
}

/** The summary as Markdown tables. */
export function formatProfile(title: string, s: ProfileSummary): string {
  const table = (head: string, list: Row[]) => [
    `| ${head} | ms | % |`,
    "| --- | ---: | ---: |",
    ...list.map((r) =>
      `| \`${r.name.replaceAll("|", "\\|")}\` | ${r.ms.toFixed(0)} | ${r.pct.toFixed(1)} |`
    ),
    "",
  ];
  return [
    `### ${title} (${(s.totalMs / 1000).toFixed(1)} s sampled)`,
    "",
    ...table("self time, by package or file", s.selfByPackage),
    ...table("self time, by function", s.selfByFunction),
    ...table("inclusive time, this project's functions", s.inclusiveOwn),
  ].join("\n");
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      top: { type: "string", default: "25" },
      window: { type: "string" },
      timeline: { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  const range = values.window === undefined ? undefined : /^([\d.]+)-([\d.]+)$/.exec(values.window);
  if (positionals.length === 0 || range === null) {
    console.error(
      "usage: deno task bench:profile FILE.cpuprofile… [--top 25] [--window FROM-TO (s)] [--timeline]",
    );
    Deno.exit(2);
  }
  const profiles = await Promise.all(
    positionals.map(async (f) => JSON.parse(await Deno.readTextFile(f)) as CpuProfile),
  );
  if (values.timeline) {
    for (const [i, p] of profiles.entries()) {
      console.log(`${positionals[i]}: busy % per 0.5 s`);
      console.log(busyTimeline(p).map((s) => `${s.atS}s ${s.busyPct.toFixed(0)}%`).join(", "));
    }
  }
  const window = range === undefined ? undefined : { from: Number(range[1]), to: Number(range[2]) };
  const title = positionals.join(", ") + (window ? ` from ${window.from} s to ${window.to} s` : "");
  console.log(formatProfile(title, summarizeProfile(profiles, Number(values.top), window)));
}
