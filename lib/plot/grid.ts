/**
 * A contact sheet of a database: thumbnails in a grid with the label and file name under each, to see at a
 * glance what a folder holds. Large databases are cut at `max` images (the figure says how many were left
 * out); unreadable files are grey boxes stating why.
 */
import * as path from "node:path";
import { expectOneOf, invalidOption } from "../errors";
import type { ImageItem } from "../types";
import { checkSize, composeFigure, loadThumbs, type Placement } from "./canvas";
import { placeholder } from "./recommendation";
import { fitText, svgRect, svgText } from "./svg";
import { labelColours } from "./tsne-plot";

export const GRID_CAPTIONS = ["both", "label", "name", "none"] as const;
export type GridCaption = (typeof GRID_CAPTIONS)[number];

export interface GridOptions {
  /** Thumbnails per row; default about square, at most 10. */
  columns?: number;
  /** Side of each thumbnail box in px; default 110, range 24..512. */
  thumb?: number;
  /** Figure title; default "<n> images". */
  title?: string;
  /** Most images shown; default 100, range 1..2000. */
  max?: number;
  /** What is written under each image: "both" (default), "label", "name" or "none". */
  captions?: GridCaption;
  onProgress?: (done: number, total: number) => void;
}

export async function renderGrid(items: ImageItem[], opts: GridOptions = {}): Promise<Buffer> {
  if (!Array.isArray(items) || items.length === 0) throw invalidOption("items", "a non-empty array of images", items);
  const box = checkSize("thumb", opts.thumb ?? 110, 24, 512);
  const max = checkSize("max", opts.max ?? 100, 1, 2000);
  const captions = expectOneOf("captions", opts.captions ?? "both", GRID_CAPTIONS);
  const shown = items.slice(0, max);
  const columns = checkSize("columns", opts.columns ?? Math.min(10, Math.ceil(Math.sqrt(shown.length))), 1, 100);
  const rows = Math.ceil(shown.length / columns);
  const title = opts.title ?? `${items.length} images`;

  const small = Math.max(10, Math.min(14, Math.round(box * 0.1)));
  const lines = captions === "both" ? 2 : captions === "none" ? 0 : 1;
  const gap = 12;
  const pad = 14;
  const titleH = title ? 40 : 0;
  const footH = items.length > shown.length ? 28 : 0;
  const cellW = box + gap;
  const cellH = box + 6 + lines * (small + 4) + gap;
  const width = pad * 2 + columns * cellW - gap;
  const height = pad * 2 + titleH + rows * cellH + footH;

  const thumbs = await loadThumbs(shown.map((it) => it.path), box, (done) => opts.onProgress?.(done, shown.length));
  const colours = labelColours(shown.map((it) => it.label ?? ""));
  const placements: Placement[] = [];
  let svg = "";
  if (title) svg += svgText(width / 2, pad + 26, fitText(title, 20, width - 2 * pad), { size: 20, anchor: "middle" });
  shown.forEach((item, i) => {
    const x = pad + (i % columns) * cellW;
    const y = pad + titleH + Math.floor(i / columns) * cellH;
    placements.push({ thumb: thumbs[i], left: x, top: y });
    const t = thumbs[i];
    if (!t.ok) svg += placeholder(x, y, box, t.reason, small);
    svg += svgRect(x - 0.5, y - 0.5, box + 1, box + 1, { stroke: "#999", strokeWidth: 1 });
    let ty = y + box + 6 + small;
    const maxW = box + gap - 4;
    if (captions === "both" || captions === "label") {
      svg += svgText(x + box / 2, ty, fitText(item.label ?? "(no label)", small, maxW), { size: small, anchor: "middle", fill: item.label ? colours.get(item.label) : "#777" });
      ty += small + 4;
    }
    if (captions === "both" || captions === "name") {
      svg += svgText(x + box / 2, ty, fitText(path.posix.basename(item.name || item.path), small, maxW), { size: small, anchor: "middle", fill: "#444" });
    }
  });
  if (footH) svg += svgText(pad, height - pad - 6, fitText(`… and ${items.length - shown.length} more not shown`, 13, width - 2 * pad), { size: 13, fill: "#555" });
  return composeFigure(width, height, box, placements, svg);
}
