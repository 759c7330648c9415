/**
 * ssim-image through the exact engine: rows hold pixel bytes and each pair is one ssim.js call (windowed
 * SSIM, structural-similarity.ts), no dot products, so it is not a vector metric and has no kernel.
 * Leave-one-out computes each symmetric pair once.
 */
import { CbirError, invalidOption } from "../errors";
import type { Reporter } from "../report";
import { reporterOf } from "../report";
import type { FeatureMatrix, Ranking } from "../types";
import { ownRow, toRanking } from "./blocked";
import { imageSsim, type SsimOptions } from "./structural-similarity";
import { topK } from "./topk";

export interface ImageSsimSearch {
  k: number;
  leaveOneOut: boolean;
  /** Rows are pixel bytes of images of this shape. */
  image?: { width: number; height: number; channels: 1 | 3 | 4 };
  ssim?: SsimOptions;
  labels?: Map<string, string>;
  queryLabels?: Map<string, string>;
  /** Every query's full score row, as the vector path hands it over (ExactIndex SearchOptions.onRow). */
  onRow?: (queryIndex: number, scores: Float32Array) => void;
  reporter?: Reporter;
}

export function rankByImageSsim(db: FeatureMatrix, queries: FeatureMatrix, opts: ImageSsimSearch): Ranking[] {
  const { k, leaveOneOut } = opts;
  const shape = opts.image;
  if (!shape) throw new CbirError("E_BAD_OPTION", "metric ssim-image needs the image shape (option image: {width, height, channels}).", { fix: "pass image: {width, height, channels} and rows of pixel bytes." });
  if (shape.width * shape.height * shape.channels !== db.dim)
    throw invalidOption("image", `width x height x channels = ${db.dim} (the row length)`, `${shape.width}x${shape.height}x${shape.channels}`);
  const rep = reporterOf(opts.reporter);
  const asImage = (m: FeatureMatrix, i: number) => ({ ...shape, data: Uint8Array.from(m.data.subarray(i * m.dim, (i + 1) * m.dim)) });
  const dbImgs = db.ids.map((_, i) => asImage(db, i));
  const qImgs = leaveOneOut ? dbImgs : queries.ids.map((_, i) => asImage(queries, i));
  const memo = new Map<number, number>();
  const out: Ranking[] = [];
  const qLabels = leaveOneOut ? opts.labels : opts.queryLabels;
  for (let qi = 0; qi < qImgs.length; qi++) {
    const s = new Float32Array(db.ids.length);
    const own = ownRow(leaveOneOut, qi);
    for (let j = 0; j < db.ids.length; j++) {
      if (j === own) continue;
      const key = leaveOneOut ? Math.min(qi, j) * db.ids.length + Math.max(qi, j) : -1;
      let v = key >= 0 ? memo.get(key) : undefined;
      if (v === undefined) {
        v = imageSsim(qImgs[qi], dbImgs[j], opts.ssim);
        if (key >= 0) memo.set(key, v);
      }
      s[j] = v;
    }
    out.push(toRanking(queries.ids[qi], topK(s, k, true, own), s, db.ids, "ssim-image", opts.labels, qLabels?.get(queries.ids[qi])));
    opts.onRow?.(qi, s);
    rep.progress("rank", qi + 1, qImgs.length, queries.ids[qi]);
  }
  return out;
}
