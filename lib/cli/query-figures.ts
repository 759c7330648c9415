/** The figures of `cbir query` (folder index or Lance table): drawn here, above the store, which returns rankings only. */
import { renderRecommendations, type RecommendationLayout } from "../plot/index";
import type { Reporter } from "../report";
import type { ImageItem, Ranking } from "../types";

/**
 * One `<stem>_rec.png` per ranking in `dir` (checked by the caller before the query runs). A figure that
 * cannot be drawn is a warning; a disk that refuses writes refuses every figure, so it is one error.
 */
export async function writeQueryFigures(rankings: Ranking[], queries: ImageItem[], items: ImageItem[], dir: string, layout: RecommendationLayout, reporter: Reporter): Promise<string[]> {
  return renderRecommendations(rankings, items, dir, { queries, layout, reporter, onFigureError: "warn" });
}
