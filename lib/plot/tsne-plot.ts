/**
 * t-SNE figures: the originals' "thumbnails at their map position" picture (tsne.png), and a class-coloured
 * scatter with a legend for collections too large for thumbnails. Both take the `coords` of `tsne()`.
 * Unlike the originals, positions are inset by half a thumbnail so no image is cut at the frame.
 */
import { CbirError, invalidOption } from "../errors";
import type { ImageItem } from "../types";
import { checkSize, composeFigure, frameThumb, loadThumbs, parseColour, svgToPng, type Placement, type Thumb } from "./canvas";
import { PALETTE, escapeXml, fitText, fmt, svgDocument, svgRect, svgText, textWidth } from "./svg";

export interface TsneThumbnailOptions {
  /** Side of the square map area in px; default 900, range 200..8000. */
  size?: number;
  /** Side of each thumbnail box in px; default chosen from the count (about 64 for 36 images), range 8..256. */
  thumb?: number;
  /** Default "t-SNE embedding of images"; "" for none. */
  title?: string;
  /** Frame each thumbnail in its class colour and add a legend (default true when items have labels). */
  colourByLabel?: boolean;
  onProgress?: (done: number, total: number) => void;
  /**
   * Draw at most this many thumbnails, an even sample of the items in their order (default: all). Tens
   * of thousands of thumbnails would only pile up on one map; the legend still counts every item.
   */
  maxThumbnails?: number;
  /** Where thumbnails come from (default loadThumb, decoding the image; the demo passes a ThumbnailCache's). */
  loadThumb?: (file: string, box: number) => Promise<Thumb>;
}

export interface TsneScatterOptions {
  /** Side of the square map area in px; default 800, range 200..8000. */
  size?: number;
  /** Point radius in px; default from the count (5 for a few dozen, 2 for thousands). */
  radius?: number;
  /** Default "t-SNE of the features"; "" for none. */
  title?: string;
}

const LEGEND_MAX = 30; // more classes than this get "+ N more" rather than an unreadably long legend

/** One colour per distinct label, labels sorted by name (numbers in numeric order); tab20-like colours, then golden-angle hues. */
export function labelColours(labels: readonly string[]): Map<string, string> {
  const names = [...new Set(labels)].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const map = new Map<string, string>();
  names.forEach((name, i) => {
    map.set(name, i < PALETTE.length ? PALETTE[i] : `hsl(${Math.round((i * 137.508) % 360)}, 65%, 45%)`);
  });
  return map;
}

function checkCoords(coords: Float32Array, n: number): void {
  if (!(coords instanceof Float32Array) || coords.length !== n * 2) {
    throw new CbirError("E_BAD_OPTION", `t-SNE coordinates hold ${coords?.length} values for ${n} points (expected ${n * 2}).`, {
      fix: "pass the `coords` returned by tsne() for the same items, in the same order.",
    });
  }
}

/** Maps coordinates into [inset, side - inset] on both axes, keeping the aspect ratio. */
function project(coords: Float32Array, n: number, side: number, inset: number): Float64Array {
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = coords[2 * i], y = coords[2 * i + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    minX = Math.min(minX, x); maxX = Math.max(maxX, x);
    minY = Math.min(minY, y); maxY = Math.max(maxY, y);
  }
  const span = Math.max(maxX - minX, maxY - minY) || 1;
  const scale = (side - 2 * inset) / span;
  const offX = inset + (side - 2 * inset - (maxX - minX) * scale) / 2;
  const offY = inset + (side - 2 * inset - (maxY - minY) * scale) / 2;
  const out = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) {
    out[2 * i] = offX + (coords[2 * i] - minX) * scale;
    out[2 * i + 1] = offY + (maxY - coords[2 * i + 1]) * scale; // y up, as in matplotlib
  }
  return out;
}

/** A legend block: coloured swatches with names, `rows` tall at most; returns its SVG and width. */
function legend(x: number, y: number, colours: Map<string, string>, counts: Map<string, number>, swatch: "circle" | "square"): { svg: string; width: number } {
  const size = 14;
  const entries = [...colours.entries()];
  const shown = entries.slice(0, LEGEND_MAX);
  let svg = "";
  let width = 0;
  shown.forEach(([name, colour], i) => {
    const cy = y + i * (size + 8);
    svg += swatch === "circle"
      ? `<circle cx="${fmt(x + 7)}" cy="${fmt(cy - 5)}" r="6" fill="${colour}"/>`
      : svgRect(x + 1, cy - 11, 12, 12, { fill: "none", stroke: colour, strokeWidth: 3 });
    const text = fitText(`${name} (${counts.get(name) ?? 0})`, size, 200);
    svg += svgText(x + 20, cy, text, { size });
    width = Math.max(width, 20 + textWidth(text, size));
  });
  if (entries.length > shown.length) {
    svg += svgText(x, y + shown.length * (size + 8), `+ ${entries.length - shown.length} more`, { size, fill: "#555" });
    width = Math.max(width, textWidth("+ 999 more", size));
  }
  return { svg, width: Math.ceil(width) };
}

function countLabels(labels: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of labels) m.set(l, (m.get(l) ?? 0) + 1);
  return m;
}

/** The images drawn at their t-SNE positions, as in the originals' tsne.png. Unreadable images are grey boxes. */
export async function renderTsneThumbnails(items: ImageItem[], coords: Float32Array, opts: TsneThumbnailOptions = {}): Promise<Buffer> {
  const n = items.length;
  checkCoords(coords, n);
  const side = checkSize("size", opts.size ?? 900, 200, 8000);
  const drawn = sampleRows(n, opts.maxThumbnails ?? n);
  const box = checkSize("thumb", opts.thumb ?? Math.max(8, Math.min(96, Math.round((side / Math.sqrt(Math.max(drawn.length, 1))) * 0.6))), 8, 256);
  const title = opts.title ?? "t-SNE embedding of images";
  const labels = items.map((it) => it.label ?? "");
  const hasLabels = labels.some((l) => l !== "");
  const coloured = opts.colourByLabel ?? hasLabels;
  const colours = labelColours(labels);

  const pad = 12;
  const titleH = title ? 40 : 0;
  const top = pad + titleH;
  const leg = coloured ? legend(pad + side + 20, top + 16, colours, countLabels(labels), "square") : { svg: "", width: 0 };
  const legendW = coloured ? leg.width + 30 : 0;
  const width = pad * 2 + side + legendW;
  const height = Math.max(top + side + pad, top + (Math.min(colours.size, LEGEND_MAX) + 1) * 22 + pad);

  const pos = project(coords, n, side, box / 2 + 4);
  const thumbs = await loadThumbs(drawn.map((i) => items[i].path), box, (done) => opts.onProgress?.(done, drawn.length), opts.loadThumb);
  const placements: Placement[] = [];
  let svg = svgRect(pad, top, side, side, { stroke: "#000", strokeWidth: 1 });
  if (title) svg += svgText(pad + side / 2, pad + 28, fitText(title, 22, side), { size: 22, anchor: "middle" });
  const border = box >= 40 ? 2 : 1;
  drawn.forEach((i, t) => {
    const left = pad + pos[2 * i] - box / 2;
    const y = top + pos[2 * i + 1] - box / 2;
    const colour = colours.get(labels[i]) ?? "#000";
    placements.push({ thumb: coloured ? frameThumb(thumbs[t], parseColour(colour), border) : thumbs[t], left, top: y });
    if (!thumbs[t].ok) svg += svgRect(left, y, box, box, { fill: "#cfcfcf", stroke: coloured ? colour : undefined, strokeWidth: border });
  });
  svg += leg.svg;
  thumbs.length = 0;
  return composeFigure(width, height, box, placements, svg);
}

/** `m` row indices spread evenly over 0..n-1 in order (all of them when m >= n). */
function sampleRows(n: number, m: number): number[] {
  if (!Number.isInteger(m) || m < 1) throw invalidOption("maxThumbnails", "positive integer", m);
  if (m >= n) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: m }, (_, t) => Math.floor((t * n) / m));
}

/** Class-coloured scatter of a t-SNE map with a legend (label and count). */
export async function renderTsneScatter(coords: Float32Array, labels: string[], opts: TsneScatterOptions = {}): Promise<Buffer> {
  if (!Array.isArray(labels)) throw invalidOption("labels", "an array of strings", labels);
  const n = labels.length;
  checkCoords(coords, n);
  const side = checkSize("size", opts.size ?? 800, 200, 8000);
  const radius = opts.radius ?? (n <= 100 ? 5 : n <= 1000 ? 3.5 : n <= 10000 ? 2 : 1.2);
  if (typeof radius !== "number" || !(radius > 0) || radius > 50) throw invalidOption("radius", "number in (0, 50]", radius);
  const title = opts.title ?? "t-SNE of the features";
  const colours = labelColours(labels);
  const counts = countLabels(labels);

  const pad = 12;
  const titleH = title ? 40 : 0;
  const top = pad + titleH;
  const leg = legend(pad + side + 20, top + 16, colours, counts, "circle");
  const width = pad * 2 + side + leg.width + 30;
  const height = Math.max(top + side + pad, top + (Math.min(colours.size, LEGEND_MAX) + 1) * 22 + pad);
  const pos = project(coords, n, side, radius + 6);

  let body = svgRect(pad, top, side, side, { stroke: "#000", strokeWidth: 1, fill: "#fff" });
  if (title) body += svgText(pad + side / 2, pad + 28, fitText(title, 22, side), { size: 22, anchor: "middle" });
  // One <g> per class keeps the SVG small; classes are drawn in legend order.
  for (const [name, colour] of colours) {
    let dots = "";
    for (let i = 0; i < n; i++) {
      if (labels[i] !== name) continue;
      dots += `<circle cx="${fmt(pad + pos[2 * i])}" cy="${fmt(top + pos[2 * i + 1])}" r="${radius}"/>`;
    }
    body += `<g fill="${colour}" fill-opacity="0.8">${dots}</g>`;
  }
  body += leg.svg;
  return svgToPng(svgDocument(Math.ceil(width), Math.ceil(height), body, "#fff"));
}

/** A plotly figure (traces and layout) for showPlotly. */
export interface PlotlyFigure {
  data: Record<string, unknown>[];
  layout: Record<string, unknown>;
}

/**
 * The class-coloured t-SNE scatter as an interactive plotly figure: one trace per class (click the legend
 * to hide one), hovering a point shows its file name and label. Same colours and orientation (y down) as
 * renderTsneScatter, so the PNG and the interactive map read alike.
 */
export function tsneScatterPlotly(coords: Float32Array, labels: string[], names: string[], opts: { title?: string; size?: number } = {}): PlotlyFigure {
  if (!Array.isArray(labels)) throw invalidOption("labels", "an array of strings", labels);
  if (!Array.isArray(names) || names.length !== labels.length) throw invalidOption("names", `an array of ${labels.length} file names (one per label)`, names?.length);
  const n = labels.length;
  checkCoords(coords, n);
  const side = checkSize("size", opts.size ?? 640, 200, 8000);
  const colours = labelColours(labels);
  const counts = countLabels(labels);
  const data = [...colours].map(([name, colour]) => {
    const rows = labels.flatMap((l, i) => (l === name ? [i] : []));
    return {
      type: "scatter",
      mode: "markers",
      // plotly reads tags and entities in its text: names are shown as text, escaped like the SVG captions
      name: `${escapeXml(name)} (${counts.get(name) ?? rows.length})`,
      x: rows.map((i) => coords[2 * i]),
      y: rows.map((i) => coords[2 * i + 1]),
      text: rows.map((i) => escapeXml(names[i])),
      hovertemplate: `%{text}<br>${escapeXml(name).replace(/%/g, "")}<extra></extra>`,
      marker: { color: colour, size: n <= 100 ? 9 : n <= 1000 ? 6 : 4, opacity: 0.8 },
    };
  });
  const layout = {
    title: { text: opts.title ?? "t-SNE of the features (hover for the file)" },
    height: side,
    xaxis: { showticklabels: false, zeroline: false, showgrid: false },
    yaxis: { showticklabels: false, zeroline: false, showgrid: false, autorange: "reversed", scaleanchor: "x" },
    hovermode: "closest",
  };
  return { data, layout };
}
