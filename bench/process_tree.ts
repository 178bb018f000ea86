/**
 * CPU time and resident memory of a process and all its descendants, from Linux's `/proc`: what
 * an engine costs, whatever it starts (`deno task` runs `deno run`; pyspark runs a JVM). Deno may
 * not read `/proc` itself under the tasks' permissions, so one `cat` reads every `stat` file per
 * sample.
 */

/** What `/proc/<pid>/stat` says of one process. */
export interface ProcStat {
  pid: number;
  /** The command name (`comm`, at most 15 characters). */
  name: string;
  ppid: number;
  /** User and system time of the process and of its children that ended and were waited for, in clock ticks. */
  ticks: number;
  /** Resident set size, in pages. */
  rssPages: number;
}

/**
 * Parses the lines of `/proc/<pid>/stat` files. The command name may hold spaces and parentheses,
 * so fields are counted from the last `)`.
 *
 * @param text One or more `stat` lines.
 * @returns One entry per well-formed line.
 *
 * @example
 * ```ts
 * import { parseProcStats } from "./process_tree.ts";
 * const line = "42 (java) S 7 42 7 0 -1 0 0 0 0 0 150 50 3 2 20 0 30 0 100 9000000 2500 0";
 * parseProcStats(line); // [{ pid: 42, name: "java", ppid: 7, ticks: 205, rssPages: 2500 }]
 * ```
 */
export function parseProcStats(text: string): ProcStat[] {
  const out: ProcStat[] = [];
  for (const line of text.split("\n")) {
    const close = line.lastIndexOf(")");
    if (close < 0) continue;
    const pid = Number(line.slice(0, line.indexOf(" ")));
    const name = line.slice(line.indexOf("(") + 1, close);
    // After ")": state(3) ppid(4) … utime(14) stime(15) cutime(16) cstime(17) … rss(24).
    const f = line.slice(close + 2).split(" ");
    const n = (i: number) => Number(f[i - 3]);
    const stat = { pid, ppid: n(4), ticks: n(14) + n(15) + n(16) + n(17), rssPages: n(24) };
    if (Object.values(stat).every(Number.isFinite)) out.push({ ...stat, name });
  }
  return out;
}

/**
 * Sums a process tree.
 *
 * @param stats Every process of the machine.
 * @param root The tree's root.
 * @returns Clock ticks and pages of the root and its descendants, and the processes, root first
 * (none when the root is gone).
 */
export function treeTotals(
  stats: readonly ProcStat[],
  root: number,
): { ticks: number; rssPages: number; processes: ProcStat[] } {
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const start = stats.find((s) => s.pid === root);
  const processes: ProcStat[] = [];
  let ticks = 0;
  let rssPages = 0;
  const stack = start ? [start] : [];
  while (stack.length > 0) {
    const s = stack.shift()!;
    processes.push(s);
    ticks += s.ticks;
    rssPages += s.rssPages;
    stack.push(...(children.get(s.pid) ?? []));
  }
  return { ticks, rssPages, processes };
}

/** A sample of a tree: CPU seconds so far and resident memory now. */
export interface TreeSample {
  cpuSeconds: number;
  rssBytes: number;
  /** Each process, root first: its pid, command name and resident bytes. */
  processes: { pid: number; name: string; rssBytes: number }[];
}

/** Reads `/proc/*\/stat` once. */
async function readStats(): Promise<ProcStat[]> {
  const out = await new Deno.Command("sh", {
    args: ["-c", "cat /proc/[0-9]*/stat 2>/dev/null"],
    stdout: "piped",
    stderr: "null",
    stdin: "null",
  }).output();
  return parseProcStats(new TextDecoder().decode(out.stdout));
}

let units: Promise<{ tick: number; page: number }> | null = null;
function systemUnits(): Promise<{ tick: number; page: number }> {
  units ??= (async () => {
    const ask = async (name: string, fallback: number) => {
      const out = await new Deno.Command("getconf", { args: [name], stdout: "piped" }).output()
        .catch(() => null);
      const n = Number(new TextDecoder().decode(out?.stdout ?? new Uint8Array()).trim());
      return n > 0 ? n : fallback;
    };
    return { tick: await ask("CLK_TCK", 100), page: await ask("PAGESIZE", 4096) };
  })();
  return units;
}

/**
 * Samples the tree under `root` now.
 *
 * @param root The root process id.
 * @returns CPU seconds used so far by the live processes of the tree (and the children they
 * waited for), resident bytes now, and the pids.
 */
export async function sampleTree(root: number): Promise<TreeSample> {
  const [stats, u] = await Promise.all([readStats(), systemUnits()]);
  const t = treeTotals(stats, root);
  return {
    cpuSeconds: t.ticks / u.tick,
    rssBytes: t.rssPages * u.page,
    processes: t.processes.map((p) => ({
      pid: p.pid,
      name: p.name,
      rssBytes: p.rssPages * u.page,
    })),
  };
}

/** A tree watched in the background: its largest resident memory, and its latest sample. */
export interface TreeWatch {
  /** The largest sum of resident memory seen so far, in bytes. */
  peakRssBytes(): number;
  /** Each process's largest resident memory, in the order first seen (root first). */
  peakByProcess(): { pid: number; name: string; rssBytes: number }[];
  /** The latest sample (its processes, to kill a tree whose root is gone). */
  last(): TreeSample | null;
  /** Takes a sample now (for CPU time at a phase boundary). */
  sample(): Promise<TreeSample>;
  stop(): void;
}

/**
 * Samples the tree under `root` every `intervalMs` for its peak resident memory.
 *
 * @param root The root process id.
 * @param intervalMs Between samples. @default 250
 * @returns The watch; call `stop()` when done.
 */
export function watchTree(root: number, intervalMs = 250): TreeWatch {
  let peak = 0;
  let latest: TreeSample | null = null;
  const each = new Map<number, { pid: number; name: string; rssBytes: number }>();
  const take = async () => {
    const s = await sampleTree(root);
    if (s.processes.length > 0) latest = s;
    peak = Math.max(peak, s.rssBytes);
    for (const p of s.processes) {
      const seen = each.get(p.pid);
      if (seen === undefined || p.rssBytes > seen.rssBytes) each.set(p.pid, { ...p });
    }
    return s;
  };
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      await take().catch(() => {});
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  };
  void loop();
  return {
    peakRssBytes: () => peak,
    peakByProcess: () => [...each.values()],
    last: () => latest,
    sample: take,
    stop: () => (stopped = true),
  };
}
