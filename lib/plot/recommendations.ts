/**
 * The recommendation figures of many rankings, one `<stem>_rec.png` each in one folder: what the demo
 * (`<out>/rec/`), `cbir query` (`<out>/queries/`) and the notebooks write. Stems come from outputStems, so
 * `cat.png` and `cat.jpg` never share a figure.
 */
import * as path from "node:path";
import { invalidOption, isCbirError } from "../errors";
import { outputStems } from "../prepare/scan";
import { reporterOf, type Reporter } from "../report";
import type { ImageItem, Ranking } from "../types";
import type { Thumb } from "./canvas";
import { writePng } from "./canvas";
import { renderRecommendation, type RecommendationLayout } from "./recommendation";

export interface RecommendationsOptions {
  /** Show at most this many hits of each ranking (default: all; notebooks pass K with full rankings). */
  k?: number;
  /** Score name in the captions; default each ranking's own `metric`. */
  metric?: string;
  /** "grid" (default) or "row", see recommendation.ts. */
  layout?: RecommendationLayout;
  reporter?: Reporter;
  /** Where thumbnails come from (default: decode each image; the demo passes a ThumbnailCache's `load`). */
  loadThumb?: (file: string, box: number) => Promise<Thumb>;
  /**
   * Query images that are not among `items` (`cbir query`'s); default: queries are looked up in `items`.
   */
  queries?: readonly ImageItem[];
  /** Log "[i/n] Plotting similar image recommendations for: <query>" and report "plot" progress (the demo's lines). */
  announce?: boolean;
  /**
   * A figure that cannot be drawn: "throw" (default) or "warn" and go on (`cbir query`). A disk that refuses
   * writes refuses every figure, so E_DISK_FULL and E_NOT_WRITABLE are always thrown.
   */
  onFigureError?: "throw" | "warn";
}

/** Draws and writes one figure per ranking in `dir`; returns the files written, in ranking order. */
export async function renderRecommendations(rankings: readonly Ranking[], items: readonly ImageItem[], dir: string, opts: RecommendationsOptions = {}): Promise<string[]> {
  if (opts.k !== undefined && (!Number.isInteger(opts.k) || opts.k < 1)) throw invalidOption("k", "positive integer", opts.k);
  const rep = reporterOf(opts.reporter);
  const byName = new Map(items.map((it) => [it.name, it] as const));
  const queryByName = opts.queries ? new Map(opts.queries.map((it) => [it.name, it] as const)) : byName;
  const stems = outputStems(rankings.map((r) => r.query));
  const files: string[] = [];
  const n = rankings.length;
  for (const [i, r] of rankings.entries()) {
    if (opts.announce) rep.log(`[${i + 1}/${n}] Plotting similar image recommendations for: ${r.query}`);
    try {
      const png = await renderRecommendation(
        { item: queryByName.get(r.query)! },
        r.hits.slice(0, opts.k ?? r.hits.length).map((hit, j) => ({ item: byName.get(hit.id)!, score: hit.score, rank: j + 1 })),
        { layout: opts.layout, metric: opts.metric ?? r.metric, loadThumb: opts.loadThumb },
      );
      const file = path.join(dir, `${stems[i]}_rec.png`);
      await writePng(png, file);
      files.push(file);
    } catch (e) {
      if (opts.onFigureError !== "warn" || !isCbirError(e) || e.code === "E_DISK_FULL" || e.code === "E_NOT_WRITABLE") throw e;
      rep.warn(`no figure for ${r.query}: ${e.message}`);
    }
    if (opts.announce) rep.progress("plot", i + 1, n, r.query);
  }
  return files;
}
