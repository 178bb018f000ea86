/**
 * Plots as standalone SVG, written by hand (no dependency): latency over time, like the seed's
 * figures, and a latency histogram.
 */
import { histogram } from "../datasets/stats.ts";

const W = 720;
const H = 360;
const M = { left: 64, right: 16, top: 36, bottom: 48 };

type Scale = (v: number) => number;

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

function frame(
  title: string,
  xLabel: string,
  yLabel: string,
  xMax: number,
  yMax: number,
  draw: (px: Scale, py: Scale) => string,
): string {
  const px: Scale = (x) => M.left + (x / (xMax || 1)) * (W - M.left - M.right);
  const py: Scale = (y) => H - M.bottom - (y / (yMax || 1)) * (H - M.top - M.bottom);
  const ticks = (max: number) => Array.from({ length: 6 }, (_, i) => (max * i) / 5);
  const parts = [
    `<rect width="100%" height="100%" fill="white"/>`,
    ...ticks(yMax).map((t) =>
      `<line x1="${M.left}" y1="${py(t).toFixed(1)}" x2="${W - M.right}" y2="${
        py(t).toFixed(1)
      }" stroke="#eee"/>` +
      `<text x="${M.left - 6}" y="${(py(t) + 4).toFixed(1)}" font-size="11" text-anchor="end">${
        fmt(t)
      }</text>`
    ),
    ...ticks(xMax).map((t) =>
      `<text x="${px(t).toFixed(1)}" y="${H - M.bottom + 16}" font-size="11" text-anchor="middle">${
        fmt(t)
      }</text>`
    ),
    `<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${
      H - M.bottom
    }" stroke="#333"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="#333"/>`,
    `<text x="${W / 2}" y="${H - 10}" font-size="12" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="16" y="${H / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 16 ${
      H / 2
    })">${esc(yLabel)}</text>`,
    `<text x="${W / 2}" y="22" font-size="14" text-anchor="middle" font-weight="bold">${
      esc(title)
    }</text>`,
    draw(px, py),
  ];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">${
    parts.join("")
  }</svg>\n`;
}

/**
 * Latency of each order against when it was sent, with the mean as a line.
 *
 * @param title Plot title.
 * @param points `x` seconds since the start, `y` latency in ms.
 */
export function latencyOverTimeSvg(
  title: string,
  points: readonly { x: number; y: number }[],
): string {
  const xMax = Math.max(1, ...points.map((p) => p.x));
  const yMax = Math.max(1, ...points.map((p) => p.y)) * 1.05;
  const mean = points.length === 0 ? 0 : points.reduce((a, p) => a + p.y, 0) / points.length;
  return frame(
    title,
    "scheduled send time (s)",
    "latency to finalizado (ms)",
    xMax,
    yMax,
    (px, py) =>
      points.map((p) =>
        `<circle cx="${px(p.x).toFixed(1)}" cy="${
          py(p.y).toFixed(1)
        }" r="2" fill="#1f77b4" fill-opacity="0.6"/>`
      ).join("") +
      `<line x1="${px(0)}" y1="${py(mean).toFixed(1)}" x2="${px(xMax)}" y2="${
        py(mean).toFixed(1)
      }" stroke="#d62728" stroke-dasharray="4 3"/>` +
      `<text x="${px(xMax) - 4}" y="${
        (py(mean) - 6).toFixed(1)
      }" font-size="11" text-anchor="end" fill="#d62728">mean ${fmt(mean)} ms</text>`,
  );
}

/**
 * Histogram of latencies.
 *
 * @param title Plot title.
 * @param values Latencies in ms.
 * @param buckets Bars. @default 30
 */
export function latencyHistogramSvg(
  title: string,
  values: readonly number[],
  buckets = 30,
): string {
  const max = Math.max(1, ...values);
  const { from, counts } = histogram(values, buckets, 0, max);
  const yMax = Math.max(1, ...counts) * 1.05;
  const width = max / buckets;
  return frame(
    title,
    "latency to finalizado (ms)",
    "orders",
    max,
    yMax,
    (px, py) =>
      counts.map((c, i) => {
        const x = px(from[i]!);
        const w = Math.max(1, px(from[i]! + width) - x - 1);
        return `<rect x="${x.toFixed(1)}" y="${py(c).toFixed(1)}" width="${w.toFixed(1)}" height="${
          (py(0) - py(c)).toFixed(1)
        }" fill="#2ca02c"/>`;
      }).join(""),
  );
}

const COLOURS = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

/**
 * Several series over time as lines, one colour each, with a legend; a `NaN` value (a process
 * gone, a reading that failed) breaks its line. Vertical marks show events (faults, spikes).
 *
 * @param title Plot title.
 * @param yLabel What the values are, with their unit.
 * @param lines Each series: its name and points (`x` seconds since the start, `y` the value).
 * @param marks Events to mark: `x` seconds since the start and a short label.
 */
export function seriesSvg(
  title: string,
  yLabel: string,
  lines: readonly { name: string; points: readonly { x: number; y: number }[] }[],
  marks: readonly { x: number; label: string }[] = [],
): string {
  const all = lines.flatMap((l) => l.points).filter((p) => Number.isFinite(p.y));
  const xMax = Math.max(1, ...all.map((p) => p.x), ...marks.map((m) => m.x));
  const yMax = Math.max(1, ...all.map((p) => p.y)) * 1.1;
  return frame(title, "time since the start (s)", yLabel, xMax, yMax, (px, py) => {
    const marked = marks.map((m) =>
      `<line x1="${px(m.x).toFixed(1)}" y1="${M.top}" x2="${px(m.x).toFixed(1)}" y2="${
        H - M.bottom
      }" stroke="#999" stroke-dasharray="3 3"/><text x="${(px(m.x) + 3).toFixed(1)}" y="${
        H - M.bottom - 4
      }" font-size="9" fill="#666">${esc(m.label)}</text>`
    ).join("");
    const drawn = lines.map((l, i) => {
      const colour = COLOURS[i % COLOURS.length]!;
      const runs: string[][] = [[]];
      for (const p of l.points) {
        if (Number.isFinite(p.y)) runs.at(-1)!.push(`${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`);
        else if (runs.at(-1)!.length > 0) runs.push([]);
      }
      return runs.filter((r) => r.length > 0).map((r) =>
        `<polyline points="${r.join(" ")}" fill="none" stroke="${colour}" stroke-width="1.5"/>`
      ).join("");
    }).join("");
    // The legend last, on a white box, so no line hides it.
    const width = 12 + 6 * Math.max(0, ...lines.map((l) => l.name.length));
    const legend =
      `<rect x="${W - M.right - width}" y="${M.top + 2}" width="${width}" height="${
        4 + lines.length * 12
      }" fill="white" fill-opacity="0.85"/>` +
      lines.map((l, i) =>
        `<text x="${W - M.right - 4}" y="${M.top + 12 + i * 12}" font-size="10" ` +
        `text-anchor="end" fill="${COLOURS[i % COLOURS.length]}">${esc(l.name)}</text>`
      ).join("");
    return marked + drawn + legend;
  });
}
