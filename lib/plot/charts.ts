/**
 * Line charts drawn as SVG and rendered to PNG by sharp: training curves (loss and accuracy per epoch),
 * precision@k curves, anything with a few series. Axes with "nice" ticks (1, 2, 5 x 10^k), a legend to the
 * right of the plot area, markers when there are few points, gaps where a value is missing (NaN).
 */
import { CbirError, invalidOption } from "../errors";
import { checkSize, svgToPng } from "./canvas";
import { PALETTE, escapeXml, fitText, fmt, svgDocument, svgRect, svgText, textWidth } from "./svg";

export interface Series {
  name: string;
  y: number[];
  /** Default 1, 2, 3... (epochs counted from 1). */
  x?: number[];
  colour?: string;
  dashed?: boolean;
}

export interface LineChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Figure size in px; default 800 x 480 (per panel for renderTrainingCurves). */
  width?: number;
  height?: number;
  /** Fixed y range; default from the data (with 0..1 kept when all values lie in it and `unitRange`). */
  yMin?: number;
  yMax?: number;
  /** Only integer ticks on x (epochs, k); default true when every x is an integer. */
  xInteger?: boolean;
  /** Draw point markers; default when no series has more than 60 points. */
  markers?: boolean;
}

/** Ticks at 1, 2 or 5 x 10^k covering [lo, hi] with about `count` intervals. */
export function niceTicks(lo: number, hi: number, count = 5, integer = false): { ticks: number[]; lo: number; hi: number; step: number } {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  let step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  if (integer) step = Math.max(1, Math.round(step));
  const first = Math.floor(lo / step + 1e-9) * step;
  const last = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  const intervals = Math.round((last - first) / step);
  for (let i = 0; i <= intervals; i++) {
    const v = parseFloat((first + i * step).toPrecision(12)); // 0.6, not 0.6000000000000001
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return { ticks, lo: first, hi: last, step };
}

function tickText(v: number, step: number): string {
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

function validate(series: Series[]): void {
  if (!Array.isArray(series) || series.length === 0) throw invalidOption("series", "a non-empty array of {name, y}", series);
  for (const s of series) {
    if (!s || !Array.isArray(s.y)) throw invalidOption("series[].y", "an array of numbers", s?.y);
    if (s.x && s.x.length !== s.y.length) {
      throw new CbirError("E_BAD_OPTION", `series "${s.name}" has ${s.x.length} x values but ${s.y.length} y values.`, { fix: "give x and y of the same length." });
    }
  }
}

/** One chart as an SVG fragment of the given size, origin at its top-left corner. */
export function lineChartSvg(series: Series[], opts: LineChartOptions, width: number, height: number): string {
  validate(series);
  const xs = series.map((s) => s.x ?? s.y.map((_, i) => i + 1));
  const allX = xs.flat().filter(Number.isFinite);
  const allY = series.flatMap((s) => s.y).filter(Number.isFinite);
  const xInteger = opts.xInteger ?? allX.every(Number.isInteger);
  const markers = opts.markers ?? series.every((s) => s.y.length <= 60);

  const legendSize = 13;
  const legendW = Math.min(220, Math.max(...series.map((s) => textWidth(s.name, legendSize))) + 44);
  const left = 70;
  const right = legendW + 16;
  const top = opts.title ? 44 : 16;
  const bottom = opts.xLabel ? 58 : 36;
  const pw = width - left - right;
  const ph = height - top - bottom;
  if (pw < 60 || ph < 60) throw invalidOption("width/height", "a figure large enough for its plot area (at least about 300 x 200)", `${width} x ${height}`);

  const xr = niceTicks(allX.length ? Math.min(...allX) : 0, allX.length ? Math.max(...allX) : 1, Math.max(2, Math.floor(pw / 90)), xInteger);
  const yLo = opts.yMin ?? (allY.length ? Math.min(...allY) : 0);
  const yHi = opts.yMax ?? (allY.length ? Math.max(...allY) : 1);
  const yr = niceTicks(yLo, yHi, Math.max(2, Math.floor(ph / 60)));
  const y0 = opts.yMin ?? yr.lo;
  const y1 = opts.yMax ?? yr.hi;
  const px = (x: number) => left + ((x - xr.lo) / (xr.hi - xr.lo || 1)) * pw;
  const py = (y: number) => top + ph - ((y - y0) / (y1 - y0 || 1)) * ph;

  let svg = svgRect(0, 0, width, height, { fill: "#fff" });
  if (opts.title) svg += svgText(width / 2, 30, fitText(opts.title, 18, width - 20), { size: 18, anchor: "middle" });
  // grid and ticks
  for (const t of yr.ticks) {
    if (t < y0 - 1e-12 || t > y1 + 1e-12) continue;
    const y = py(t);
    svg += `<line x1="${fmt(left)}" y1="${fmt(y)}" x2="${fmt(left + pw)}" y2="${fmt(y)}" stroke="#e4e4e4"/>`;
    svg += `<line x1="${fmt(left - 5)}" y1="${fmt(y)}" x2="${fmt(left)}" y2="${fmt(y)}" stroke="#000"/>`;
    svg += svgText(left - 8, y + 4, tickText(t, yr.step), { size: 12, anchor: "end" });
  }
  for (const t of xr.ticks) {
    const x = px(t);
    svg += `<line x1="${fmt(x)}" y1="${fmt(top)}" x2="${fmt(x)}" y2="${fmt(top + ph)}" stroke="#f0f0f0"/>`;
    svg += `<line x1="${fmt(x)}" y1="${fmt(top + ph)}" x2="${fmt(x)}" y2="${fmt(top + ph + 5)}" stroke="#000"/>`;
    svg += svgText(x, top + ph + 20, tickText(t, xr.step), { size: 12, anchor: "middle" });
  }
  svg += svgRect(left, top, pw, ph, { stroke: "#000", strokeWidth: 1 });
  if (opts.xLabel) svg += svgText(left + pw / 2, height - 12, fitText(opts.xLabel, 14, pw), { size: 14, anchor: "middle" });
  if (opts.yLabel) svg += svgText(18, top + ph / 2, fitText(opts.yLabel, 14, ph), { size: 14, anchor: "middle", rotate: -90 });

  // series, clipped to the plot area (plus a marker's radius) so a fixed y range cannot draw over the axes
  const clip = `clip${Math.random().toString(36).slice(2, 10)}`;
  svg += `<defs><clipPath id="${clip}"><rect x="${fmt(left - 4)}" y="${fmt(top - 4)}" width="${fmt(pw + 8)}" height="${fmt(ph + 8)}"/></clipPath></defs><g clip-path="url(#${clip})">`;
  series.forEach((s, si) => {
    const colour = escapeXml(s.colour ?? PALETTE[si % PALETTE.length]);
    const dash = s.dashed ? ` stroke-dasharray="7 4"` : "";
    let seg: string[] = [];
    const flush = () => {
      if (seg.length > 1) svg += `<polyline points="${seg.join(" ")}" fill="none" stroke="${colour}" stroke-width="2"${dash}/>`;
      seg = [];
    };
    s.y.forEach((v, i) => {
      const x = xs[si][i];
      if (!Number.isFinite(v) || !Number.isFinite(x)) return flush();
      seg.push(`${fmt(px(x))},${fmt(py(v))}`);
      if (markers) svg += `<circle cx="${fmt(px(x))}" cy="${fmt(py(v))}" r="3" fill="${colour}"/>`;
    });
    flush();
  });
  svg += "</g>";
  // legend
  const lx = left + pw + 14;
  series.forEach((s, si) => {
    const colour = escapeXml(s.colour ?? PALETTE[si % PALETTE.length]);
    const ly = top + 14 + si * 22;
    svg += `<line x1="${fmt(lx)}" y1="${fmt(ly - 4)}" x2="${fmt(lx + 24)}" y2="${fmt(ly - 4)}" stroke="${colour}" stroke-width="2"${s.dashed ? ` stroke-dasharray="7 4"` : ""}/>`;
    svg += svgText(lx + 30, ly, fitText(s.name, legendSize, legendW - 34), { size: legendSize });
  });
  return svg;
}

/** A line chart as PNG. */
export async function renderLineChart(series: Series[], opts: LineChartOptions = {}): Promise<Buffer> {
  const width = checkSize("width", opts.width ?? 800, 300, 4000);
  const height = checkSize("height", opts.height ?? 480, 200, 4000);
  return svgToPng(svgDocument(width, height, lineChartSvg(series, opts, width, height), "#fff"));
}

/** Precision@k curves, one per method: k on x, precision in [0, 1] on y. */
export async function renderPrecisionAtK(
  curves: { name: string; k: number[]; precision: number[] }[],
  opts: Omit<LineChartOptions, "xLabel" | "yLabel"> = {},
): Promise<Buffer> {
  if (!Array.isArray(curves)) throw invalidOption("curves", "an array of {name, k, precision}", curves);
  const series = curves.map((c) => ({ name: c.name, x: c.k, y: c.precision }));
  return renderLineChart(series, { title: "precision@k", yMin: 0, yMax: 1, ...opts, xLabel: "k", yLabel: "precision@k" });
}

/**
 * Keras-style training history (`{loss: [...], val_loss: [...], acc: [...], val_acc: [...]}`) as two
 * panels side by side: every key containing "loss" on the left, the rest (accuracy...) on the right.
 * Validation series are dashed and share their training series' colour.
 */
export async function renderTrainingCurves(history: Record<string, number[]>, opts: LineChartOptions = {}): Promise<Buffer> {
  const keys = Object.keys(history ?? {}).filter((k) => Array.isArray(history[k]) && history[k].length > 0);
  if (keys.length === 0) throw invalidOption("history", "an object of per-epoch number arrays (loss, acc...)", history);
  const base = (k: string) => k.replace(/^val_/, "");
  const bases = [...new Set(keys.map(base))];
  const toSeries = (ks: string[]): Series[] =>
    ks.map((k) => ({ name: k, y: history[k], colour: PALETTE[bases.indexOf(base(k)) % PALETTE.length], dashed: k.startsWith("val_") }));
  const lossKeys = keys.filter((k) => /loss/i.test(k));
  const otherKeys = keys.filter((k) => !/loss/i.test(k));
  const panels: { series: Series[]; yLabel: string; unit: boolean }[] = [];
  if (lossKeys.length) panels.push({ series: toSeries(lossKeys), yLabel: "loss", unit: false });
  if (otherKeys.length) {
    const vals = otherKeys.flatMap((k) => history[k]).filter(Number.isFinite);
    panels.push({ series: toSeries(otherKeys), yLabel: otherKeys.every((k) => /acc/i.test(k)) ? "accuracy" : "value", unit: vals.every((v) => v >= 0 && v <= 1) });
  }
  const pw = checkSize("width", opts.width ?? 560, 300, 4000);
  const ph = checkSize("height", opts.height ?? 420, 200, 4000);
  let svg = "";
  panels.forEach((p, i) => {
    const panelOpts: LineChartOptions = {
      ...opts,
      title: opts.title ?? (p.yLabel === "loss" ? "loss per epoch" : `${p.yLabel} per epoch`),
      xLabel: opts.xLabel ?? "epoch",
      yLabel: p.yLabel,
      yMin: p.unit ? opts.yMin ?? 0 : opts.yMin,
      yMax: p.unit ? opts.yMax ?? 1 : opts.yMax,
    };
    svg += `<g transform="translate(${i * pw},0)">${lineChartSvg(p.series, panelOpts, pw, ph)}</g>`;
  });
  return svgToPng(svgDocument(pw * panels.length, ph, svg, "#fff"));
}
