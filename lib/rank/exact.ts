/**
 * Exact ranking: every query against every database vector, through the blocked all-pairs loop
 * (blocked.ts) on the JS dot-product kernel, then a top-k selection per query. Synchronous; for large
 * collections use `rankAllFast` / `ExactIndex` (search.ts), which run the same loop on ONNX Runtime's
 * matrix multiply.
 */
import { assertSameFingerprint } from "../fingerprint";
import { CbirError, expectOneOf, invalidOption } from "../errors";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix, Ranking } from "../types";
import { checkBatch, checkK, expansionOptions, jsDotKernel, rankBlocked, toRanking } from "./blocked";
import { METRICS, type Metric } from "./metrics";
import { imageSsim, type SsimOptions } from "./structural-similarity";
import { topK } from "./topk";

// moved to blocked.ts with the loop; re-exported for the callers that import them from here
export { emptyExpansion, expandQueries, expansionOptions, prepareSearch, rankingWork, recordExpansion, toRanking, type Expansion, type ScoreInput } from "./blocked";

export interface RankOptions {
  /** Default "cosine". */
  metric?: Metric;
  /** Hits per query; Infinity (or n - 1) for the full ranking. Default 10. */
  k?: number;
  /** id -> class label, copied into the rankings (hits and, for rankAll, queries). */
  labels?: Map<string, string>;
  /** rankQueries: labels of the queries when they are known (external-query evaluation). */
  queryLabels?: Map<string, string>;
  /**
   * Query expansion: re-query with the query plus its top n hits (0 = off). With cosine each hit is
   * weighted by its similarity to the power `queryExpansionAlpha` (alpha-QE), so a large n cannot drag
   * the query towards weak neighbours; other metrics take the plain mean.
   */
  queryExpansion?: number;
  /** Exponent of the similarity weights of query expansion (default 1; 0 = plain mean). */
  queryExpansionAlpha?: number;
  /**
   * With query expansion, expand the database rows the same way (each with its own top n, itself
   * excluded) before the final scoring: database-side augmentation (DBA). Queries and database then
   * live in the same smoothed space; on food7's first half it lifts mAP where query-only expansion
   * barely moves it. Default true.
   */
  augmentDatabase?: boolean;
  /** SSIM value range L for ssim-features (default: max - min of the database). */
  ssimRange?: number;
  /** ssim-image: rows are pixel bytes of images of this shape. */
  image?: { width: number; height: number; channels: 1 | 3 | 4 };
  ssim?: SsimOptions;
  /** Queries scored per kernel call (default 64). */
  batch?: number;
  /**
   * Sees every query's full score row over the database (the final pass, query expansion applied) before
   * it is dropped, for statistics over the full ranking (average precision) that no top-k list holds.
   * The row is only valid during the call.
   */
  onRow?: (queryIndex: number, scores: Float32Array) => void;
  reporter?: Reporter;
}

function rankCore(db: FeatureMatrix, queries: FeatureMatrix, leaveOneOut: boolean, opts: RankOptions): Ranking[] {
  const metric = expectOneOf("metric", opts.metric ?? "cosine", METRICS);
  const k = checkK(opts.k);
  if (metric === "ssim-image") return rankByImageSsim(db, queries, leaveOneOut, k, opts);
  const rep = reporterOf(opts.reporter);
  const rankings = rankBlocked(db, queries, {
    metric,
    k,
    batch: checkBatch(opts.batch),
    kernel: jsDotKernel(),
    leaveOneOut,
    expansion: expansionOptions(opts),
    range: opts.ssimRange,
    labels: opts.labels,
    queryLabels: opts.queryLabels,
    onRow: opts.onRow,
    progress: (done, total) => rep.progress("rank", done, total),
  });
  if (rankings instanceof Promise) throw new Error("internal: the JS kernel ran asynchronously");
  return rankings;
}

/** Every row as a query against all the others (itself excluded): leave-one-out retrieval. */
export function rankAll(m: FeatureMatrix, opts: RankOptions = {}): Ranking[] {
  return rankCore(m, m, true, opts);
}

/** External queries against a database; both must come from the same pipeline (same fingerprint). */
export function rankQueries(db: FeatureMatrix, queries: FeatureMatrix, opts: RankOptions = {}): Ranking[] {
  assertSameFingerprint(db.fingerprint, queries.fingerprint);
  return rankCore(db, queries, false, opts);
}

/** ssim-image: rows hold pixel bytes; one ssim.js call per pair (symmetric pairs computed once). */
function rankByImageSsim(db: FeatureMatrix, queries: FeatureMatrix, leaveOneOut: boolean, k: number, opts: RankOptions): Ranking[] {
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
    for (let j = 0; j < db.ids.length; j++) {
      if (leaveOneOut && j === qi) continue;
      const key = leaveOneOut ? Math.min(qi, j) * db.ids.length + Math.max(qi, j) : -1;
      let v = key >= 0 ? memo.get(key) : undefined;
      if (v === undefined) {
        v = imageSsim(qImgs[qi], dbImgs[j], opts.ssim);
        if (key >= 0) memo.set(key, v);
      }
      s[j] = v;
    }
    out.push(toRanking(queries.ids[qi], topK(s, k, true, leaveOneOut ? qi : -1), s, db.ids, "ssim-image", opts.labels, qLabels?.get(queries.ids[qi])));
    rep.progress("rank", qi + 1, qImgs.length, queries.ids[qi]);
  }
  return out;
}
