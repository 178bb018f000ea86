/**
 * The second seed's purchase events ("persona"), generated from small word lists
 * (`datasets/words/`) by a seeded generator: the same seed gives the same events. A share are
 * visits without purchase (`taps` null or 0, `folio` null); the rest are purchases under and over
 * 30 minutes, each with its `folio`.
 */
import { isDeepStrictEqual } from "node:util";
import { classifyPurchase, type PurchaseEvent } from "../lib/purchase.ts";
import {
  addEvent,
  emptyStats,
  mergeStats,
  type PurchaseReport,
  type PurchaseStats,
  reportOf,
} from "../lib/windows.ts";
import { seeded } from "./prng.ts";

/** The word lists events are drawn from. */
export interface Words {
  nombres: readonly string[];
  apellidos: readonly string[];
  ciudades: readonly string[];
  direcciones: readonly string[];
  paises: readonly string[];
  productos: readonly string[];
}

/** Options of {@linkcode generatePurchases}. */
export interface PurchaseOptions {
  count: number;
  seed: number;
  /** Event time of the first event, ms since the epoch. */
  startMs: number;
  /** Event time between consecutive events (the report sent one every 2 s). @default 2000 */
  intervalMs?: number;
  /** Every n-th event gets an event time this far in the past, to exercise late data. @default none */
  late?: { every: number; byMs: number };
}

/**
 * Reads the word lists (one entry per line).
 *
 * @param dir The folder holding `nombres.txt` and the others.
 * @default dir datasets/words
 */
export async function readWords(
  dir = new URL("./words/", import.meta.url).pathname,
): Promise<Words> {
  const read = async (name: keyof Words) =>
    (await Deno.readTextFile(`${dir}/${name}.txt`)).split("\n").map((l) => l.trim()).filter((l) =>
      l !== ""
    );
  return {
    nombres: await read("nombres"),
    apellidos: await read("apellidos"),
    ciudades: await read("ciudades"),
    direcciones: await read("direcciones"),
    paises: await read("paises"),
    productos: await read("productos"),
  };
}

const ascii = (s: string) =>
  s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[^A-Za-z]/g, "").toLowerCase();

/**
 * Generates purchase events, deterministically.
 *
 * @param words The word lists.
 * @param options Count, seed, event times.
 * @returns Events in generation order (event time increasing, but for the late ones).
 */
export function generatePurchases(words: Words, options: PurchaseOptions): PurchaseEvent[] {
  const random = seeded(options.seed);
  const interval = options.intervalMs ?? 2000;
  const digits = (n: number) => Array.from({ length: n }, () => random.int(0, 9)).join("");
  return Array.from({ length: options.count }, (_, i) => {
    const nombre = random.pick(words.nombres);
    const apellido = random.pick(words.apellidos);
    const roll = random.next();
    // 20 % leave without buying (taps null), 10 % with taps 0; 42 % buy in under 30 minutes, 28 % in 30 or more.
    const taps = roll < 0.2
      ? null
      : roll < 0.3
      ? 0
      : roll < 0.72
      ? Math.round(random.float(0.1, 29.9) * 10) / 10
      : Math.round(random.float(30, 90) * 10) / 10;
    const letters = Array.from({ length: 3 }, () => String.fromCharCode(65 + random.int(0, 25)))
      .join("");
    const late = options.late !== undefined && i > 0 && i % options.late.every === 0
      ? options.late.byMs
      : 0;
    return {
      v: 1,
      type: "Purchase",
      id: Array.from({ length: 24 }, () => random.int(0, 15).toString(16)).join(""),
      nombre,
      apellido,
      edad: random.int(18, 90),
      email: `${ascii(nombre)}.${ascii(apellido)}@mail.com`,
      telefono: `+${digits(2)} ${digits(3)}-${digits(3)}-${digits(4)}`,
      ubicacion: {
        direccion: random.pick(words.direcciones),
        ciudad: random.pick(words.ciudades),
        pais: random.pick(words.paises),
      },
      productovisto: random.pick(words.productos),
      taps,
      folio: taps !== null && taps > 0 ? `${letters}-${digits(4)}` : null,
      ts: new Date(options.startMs + i * interval - late).toISOString(),
    };
  });
}

/** What purchase analytics must publish for some events: each window's report, and the totals. */
export interface DirectCount {
  /** By window start (ISO 8601), as the role's `PurchaseWindow` records name it. */
  windows: Map<string, PurchaseReport>;
  totals: PurchaseReport;
}

/**
 * Counts `events` directly into tumbling windows of `windowMs` (no lateness, no partitions): the
 * reference the tests and the fault suite compare the role's records with.
 */
export function directCount(events: readonly PurchaseEvent[], windowMs: number): DirectCount {
  const windows = new Map<number, PurchaseStats>();
  const totals = emptyStats();
  for (const e of events) {
    const w = {
      ts: Date.parse(e.ts),
      taps: e.taps,
      product: e.productovisto,
      country: e.ubicacion.pais,
    };
    const start = Math.floor(w.ts / windowMs) * windowMs;
    if (!windows.has(start)) windows.set(start, emptyStats());
    addEvent(windows.get(start)!, w, classifyPurchase(e));
    addEvent(totals, w, classifyPurchase(e));
  }
  return {
    windows: new Map(
      [...windows].map(([s, stats]) => [new Date(s).toISOString(), reportOf(stats)]),
    ),
    totals: reportOf(totals),
  };
}

/** Window records as the analytics topic holds them: the last per window and partition. */
export interface PublishedWindows {
  /** Window start (ISO 8601) → partition → stats. */
  byStart: Map<string, Map<number, PurchaseStats>>;
}

/**
 * The windows every partition has closed, merged across partitions: a partition closes its
 * windows in event-time order, so once each partition that published has published a window
 * starting at or after `start`, the window at `start` is final (a partition without events in it
 * contributes none; one that has published nothing yet is not waited for).
 *
 * @returns Each final window's report by start, and how many windows are still open somewhere.
 */
export function closedWindows(
  published: PublishedWindows,
): { reports: Map<string, PurchaseReport>; open: number } {
  const latest = new Map<number, string>();
  for (const [start, parts] of published.byStart) {
    for (const p of parts.keys()) {
      if ((latest.get(p) ?? "") < start) latest.set(p, start);
    }
  }
  const reports = new Map<string, PurchaseReport>();
  let open = 0;
  for (const [start, parts] of published.byStart) {
    if ([...latest.values()].every((last) => last >= start)) {
      reports.set(start, reportOf(mergeStats(...parts.values())));
    } else open++;
  }
  return { reports, open };
}

/**
 * The top-level fields in which a published window report differs from the direct count, each as
 * `field published ≠ counted` (JSON).
 */
export function fieldsApart(got: PurchaseReport, want: PurchaseReport | undefined): string {
  if (want === undefined) return "no such window in the direct count";
  return (Object.keys(got) as (keyof PurchaseReport)[])
    .filter((k) => !isDeepStrictEqual(got[k], want[k]))
    .map((k) => `${k} ${JSON.stringify(got[k])} ≠ ${JSON.stringify(want[k])}`)
    .join(", ");
}
