/**
 * The recommendation figure of the originals: the query with a thick frame, then its top-k neighbours,
 * each with its rank, label and score.
 * - "grid" (similar_images_TL-2017): the query alone on the first row, captions "query", "rec 1".."rec k",
 *   the neighbours below, five to a row.
 * - "row" (artificio-2019 / caffenet demo): a title, then the query and "Rank #1".."Rank #k" on one row.
 * A hit whose image cannot be read is drawn as a grey placeholder stating why; the figure is still made.
 */
import * as path from "node:path";
import { expectOneOf, invalidOption } from "../errors";
import type { ImageItem } from "../types";
import { checkSize, composeFigure, loadThumb, type Placement, type Thumb } from "./canvas";
import { fitText, svgRect, svgText, textWidth, wrapText } from "./svg";

export const RECOMMENDATION_LAYOUTS = ["grid", "row"] as const;
export type RecommendationLayout = (typeof RECOMMENDATION_LAYOUTS)[number];

export interface RecommendationHit {
  item: ImageItem;
  score: number;
  /** 1-based rank shown in the caption (default: position in the list + 1). */
  rank?: number;
}

export interface RecommendationOptions {
  /** "grid" (default) or "row", see the module comment. */
  layout?: RecommendationLayout;
  /** Side of each thumbnail box in px; default 150, range 32..512. */
  thumb?: number;
  /** Figure title; default none for "grid", "Image Retrieval (k=N)" for "row". */
  title?: string;
  /** Name of the score shown before each value, e.g. "cosine"; default "score". */
  metric?: string;
  /** Where thumbnails come from (default loadThumb, decoding the image; the demo passes a ThumbnailCache's). */
  loadThumb?: (file: string, box: number) => Promise<Thumb>;
}

const GRID_COLUMNS = 5;
const MATCH = "#1a7f1a";
const MISMATCH = "#c0392b";

/** Renders the figure and returns PNG bytes. */
export async function renderRecommendation(
  query: { item: ImageItem },
  hits: RecommendationHit[],
  opts: RecommendationOptions = {},
): Promise<Buffer> {
  const layout = expectOneOf("layout", opts.layout ?? "grid", RECOMMENDATION_LAYOUTS);
  const box = checkSize("thumb", opts.thumb ?? 150, 32, 512);
  if (!Array.isArray(hits)) throw invalidOption("hits", "an array of {item, score}", hits);
  const metric = opts.metric ?? "score";
  const title = opts.title ?? (layout === "row" ? `Image Retrieval (k=${hits.length})` : undefined);

  const cap = clamp(Math.round(box * 0.1), 12, 20); // caption size
  const small = clamp(Math.round(box * 0.08), 11, 15); // label and score size
  const gap = Math.max(16, Math.round(box * 0.12));
  const pad = 14;
  const frame = 4; // the query's thick frame
  const cellH = cap + 11 + box + 8 + 2 * (small + 5);
  const titleH = title ? 46 : 0;

  const cols = layout === "row" ? 1 + hits.length : Math.max(1, Math.min(GRID_COLUMNS, hits.length));
  const hitRows = layout === "row" ? 0 : Math.ceil(hits.length / GRID_COLUMNS);
  const querySep = layout === "row" ? gap : 0; // extra space between the query and rank 1 on one row
  const width = pad * 2 + cols * box + (cols - 1) * gap + querySep;
  const height = pad * 2 + titleH + cellH * (1 + hitRows) + gap * hitRows;

  const load = opts.loadThumb ?? loadThumb;
  const queryThumb = await load(query.item.path, box);
  const placements: Placement[] = [];
  let svg = "";
  if (title) svg += svgText(width / 2, pad + 30, fitText(title, 26, width - 2 * pad), { size: 26, anchor: "middle" });

  const cell = (x: number, y: number, thumb: Thumb, caption: string, line1: string, line1Colour: string, line2: string, isQuery: boolean) => {
    const top = y + cap + 11; // room for the query's thick frame under the caption
    svg += svgText(x + box / 2, y + cap, fitText(caption, cap, box + gap - 4), { size: cap, anchor: "middle" });
    placements.push({ thumb, left: x, top });
    if (!thumb.ok) svg += placeholder(x, top, box, thumb.reason, small);
    svg += isQuery
      ? svgRect(x - frame / 2 - 1, top - frame / 2 - 1, box + frame + 2, box + frame + 2, { stroke: "#000", strokeWidth: frame })
      : svgRect(x - 0.5, top - 0.5, box + 1, box + 1, { stroke: "#000", strokeWidth: 1 });
    const textTop = top + box + 8 + small;
    svg += svgText(x + box / 2, textTop, fitText(line1, small, box + gap - 6), { size: small, anchor: "middle", fill: line1Colour });
    if (line2) svg += svgText(x + box / 2, textTop + small + 5, fitText(line2, small, box + gap - 6), { size: small, anchor: "middle", fill: "#444" });
  };

  const qItem = query.item;
  const rowTop = pad + titleH;
  cell(pad, rowTop, queryThumb, "query", qItem.label ?? baseName(qItem), "#000", qItem.label ? baseName(qItem) : "", true);

  for (let i = 0; i < hits.length; i++) {
    const hit = hits[i];
    const rank = hit.rank ?? i + 1;
    let x: number;
    let y: number;
    if (layout === "row") {
      x = pad + (i + 1) * (box + gap) + querySep;
      y = rowTop;
    } else {
      x = pad + (i % GRID_COLUMNS) * (box + gap);
      y = rowTop + (cellH + gap) * (1 + Math.floor(i / GRID_COLUMNS));
    }
    const thumb = await load(hit.item.path, box);
    const label = hit.item.label;
    const colour = label === undefined || qItem.label === undefined ? "#000" : label === qItem.label ? MATCH : MISMATCH;
    // On small thumbnails the value matters more than the metric's name.
    const full = `${metric} ${formatScore(hit.score)}`;
    const scoreText = textWidth(full, small) <= box + gap - 6 ? full : formatScore(hit.score);
    cell(x, y, thumb, layout === "row" ? `Rank #${rank}` : `rec ${rank}`, label ?? baseName(hit.item), colour, scoreText, false);
  }
  return composeFigure(width, height, box, placements, svg);
}

/** A grey box that says the image could not be shown, and why. */
export function placeholder(x: number, y: number, box: number, reason: string, size: number): string {
  let s = svgRect(x, y, box, box, { fill: "#cfcfcf" });
  const lines = wrapText(reason, size - 1, box - 10, Math.max(1, Math.floor((box - size * 2 - 10) / (size + 2))));
  const first = y + box / 2 - ((lines.length + 1) * (size + 2)) / 2 + size;
  const headSize = Math.min(size, Math.floor((box - 6) / 6.5)); // "unreadable" in bold must fit small boxes
  s += svgText(x + box / 2, first, "unreadable", { size: headSize, anchor: "middle", weight: "bold", fill: "#333" });
  lines.forEach((line, i) => {
    s += svgText(x + box / 2, first + (i + 1) * (size + 2), line, { size: size - 1, anchor: "middle", fill: "#333" });
  });
  return s;
}

export function formatScore(score: number): string {
  if (!Number.isFinite(score)) return String(score);
  return Math.abs(score) >= 1000 ? score.toPrecision(4) : score.toFixed(3);
}

function baseName(item: ImageItem): string {
  return path.posix.basename(item.name || item.path);
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
