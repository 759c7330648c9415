/**
 * Exact ranking: every query against every database vector, through the blocked dot-product kernel,
 * then a top-k selection per query. Synchronous; for large collections use `searchExact` (search.ts),
 * which runs the same steps on ONNX Runtime's matrix multiply.
 */
import { assertSameFingerprint } from "../fingerprint";
import { CbirError, expectOneOf, invalidOption } from "../errors";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix, Hit, Ranking } from "../types";
import { dotBlock } from "./kernel";
import { METRICS, dataRange, finishScores, higherIsBetter, prepareRows, type Metric, type RowStats, type ScoreContext, type VectorMetric } from "./metrics";
import { imageSsim, type SsimOptions } from "./structural-similarity";
import { topK } from "./topk";

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
  reporter?: Reporter;
}

export interface ScoreInput {
  db: RowStats;
  q: RowStats;
  nDb: number;
  nQ: number;
  d: number;
  metric: VectorMetric;
  range: number;
}

/** Validates and prepares both sides; shared by the sync and the async (ONNX) paths. */
export function prepareSearch(db: FeatureMatrix, queries: FeatureMatrix, metric: VectorMetric, range?: number, preparedDb?: RowStats): ScoreInput {
  const d = db.dim;
  if (queries.dim !== d) throw invalidOption("query dimension", `${d} (the database's)`, queries.dim);
  const dbStats = preparedDb ?? prepareRows(metric, db.data, db.ids.length, d);
  const qStats = queries === db ? dbStats : prepareRows(metric, queries.data, queries.ids.length, d);
  return { db: dbStats, q: qStats, nDb: db.ids.length, nQ: queries.ids.length, d, metric, range: range ?? dataRange(db.data) };
}

export function toRanking(
  query: string,
  idx: number[],
  scores: Float32Array,
  ids: string[],
  metric: Metric,
  labels: Map<string, string> | undefined,
  queryLabel: string | undefined,
): Ranking {
  const hits: Hit[] = idx.map((j) => {
    const label = labels?.get(ids[j]);
    return label === undefined ? { id: ids[j], score: scores[j] } : { id: ids[j], score: scores[j], label };
  });
  const r: Ranking = { query, hits, metric, higherIsBetter: higherIsBetter(metric) };
  if (queryLabel !== undefined) r.queryLabel = queryLabel;
  return r;
}

function checkK(k: number | undefined): number {
  const v = k ?? 10;
  if (!(v === Infinity || (Number.isInteger(v) && v >= 0))) throw invalidOption("k", "non-negative integer or Infinity", k);
  return v;
}

/**
 * Scores `input` block by block and hands each query's score row to `take` (row index, scores over db).
 * `selfExclude` makes query i skip database row i (leave-one-out).
 */
function scoreAll(input: ScoreInput, batch: number, take: (qi: number, scores: Float32Array) => void, progress?: (done: number) => void): void {
  const { nQ, nDb, d } = input;
  const ctx: ScoreContext = { metric: input.metric, d, q: input.q, db: input.db, range: input.range };
  const buf = new Float32Array(Math.min(batch, nQ) * nDb);
  for (let s = 0; s < nQ; s += batch) {
    const nb = Math.min(batch, nQ - s);
    const dots = buf.subarray(0, nb * nDb);
    dotBlock(input.q.data.subarray(s * d, (s + nb) * d), nb, input.db.data, nDb, d, dots);
    finishScores(ctx, dots, s, nb, nDb);
    for (let i = 0; i < nb; i++) take(s + i, dots.subarray(i * nDb, (i + 1) * nDb));
    progress?.(s + nb);
  }
}

/** The neighbours of each query row that query expansion adds, with their weights. */
export interface Expansion {
  neighbours: number[][];
  weights: number[][];
}

/** Validates the expansion options; returns n (0 = off), alpha and whether the database is augmented. */
export function expansionOptions(opts: { queryExpansion?: number; queryExpansionAlpha?: number; augmentDatabase?: boolean }): { n: number; alpha: number; augment: boolean } {
  const n = opts.queryExpansion ?? 0;
  if (!Number.isInteger(n) || n < 0) throw invalidOption("queryExpansion", "non-negative integer", opts.queryExpansion);
  const alpha = opts.queryExpansionAlpha ?? 1;
  if (!Number.isFinite(alpha) || alpha < 0) throw invalidOption("queryExpansionAlpha", "number >= 0", opts.queryExpansionAlpha);
  const augment = opts.augmentDatabase ?? true;
  if (typeof augment !== "boolean") throw invalidOption("augmentDatabase", "true or false", augment);
  return { n, alpha, augment };
}

export function emptyExpansion(n: number): Expansion {
  return { neighbours: new Array(n), weights: new Array(n) };
}

/** Progress units of one ranking run: one per scored query row, plus the database's own pass for DBA. */
export function rankingWork(nQ: number, nDb: number, qe: number, augment: boolean, leaveOneOut: boolean): number {
  if (qe === 0) return nQ;
  return 2 * nQ + (augment && !leaveOneOut ? nDb : 0);
}

/** Records query qi's top-n neighbours from its score row (similarity weights for cosine, else 1). */
export function recordExpansion(e: Expansion, qi: number, idx: number[], scores: Float32Array, metric: VectorMetric, alpha: number): void {
  e.neighbours[qi] = idx;
  e.weights[qi] = idx.map((j) => (metric === "cosine" ? Math.pow(Math.max(0, scores[j]), alpha) : 1));
}

/** Weighted mean of each query row and the rows of its hits (in the metric's prepared space). */
export function expandQueries(q: RowStats, db: RowStats, d: number, e: Expansion): Float32Array {
  const out = new Float32Array(e.neighbours.length * d);
  e.neighbours.forEach((nb, i) => {
    const o = i * d;
    for (let k = 0; k < d; k++) out[o + k] = q.data[o + k];
    let total = 1;
    nb.forEach((j, t) => {
      const w = e.weights[i][t];
      total += w;
      for (let k = 0; k < d; k++) out[o + k] += w * db.data[j * d + k];
    });
    const inv = 1 / total;
    for (let k = 0; k < d; k++) out[o + k] *= inv;
  });
  return out;
}

function rankCore(db: FeatureMatrix, queries: FeatureMatrix, leaveOneOut: boolean, opts: RankOptions): Ranking[] {
  const metric = expectOneOf("metric", opts.metric ?? "cosine", METRICS);
  const k = checkK(opts.k);
  const rep = reporterOf(opts.reporter);
  const qLabels = leaveOneOut ? opts.labels : opts.queryLabels;
  if (metric === "ssim-image") return rankByImageSsim(db, queries, leaveOneOut, k, opts);
  const batch = opts.batch ?? 64;
  if (!Number.isInteger(batch) || batch < 1) throw invalidOption("batch", "positive integer", opts.batch);
  const { n: qe, alpha, augment } = expansionOptions(opts);
  const hib = higherIsBetter(metric);
  let input = prepareSearch(db, queries, metric, opts.ssimRange);
  const total = rankingWork(queries.ids.length, db.ids.length, qe, augment, leaveOneOut);

  if (qe > 0) {
    const e = emptyExpansion(queries.ids.length);
    scoreAll(input, batch, (qi, s) => recordExpansion(e, qi, topK(s, qe, hib, leaveOneOut ? qi : -1), s, metric, alpha), (done) => rep.progress("rank", done, total));
    const q = { ids: queries.ids, dim: queries.dim, data: expandQueries(input.q, input.db, input.d, e), fingerprint: queries.fingerprint };
    let base: FeatureMatrix = db;
    if (augment && leaveOneOut) base = q; // the queries are the database: same neighbours, same rows
    else if (augment) {
      const self = prepareSearch(db, db, metric, input.range, input.db);
      const eDb = emptyExpansion(db.ids.length);
      scoreAll(self, batch, (i, s) => recordExpansion(eDb, i, topK(s, qe, hib, i), s, metric, alpha), (done) => rep.progress("rank", queries.ids.length + done, total));
      base = { ids: db.ids, dim: db.dim, data: expandQueries(self.q, self.db, self.d, eDb), fingerprint: db.fingerprint };
    }
    // cosine rows are re-normalised by prepareSearch; other metrics compare the averaged vectors as they are
    input = prepareSearch(base, q, metric, input.range, base === db ? input.db : undefined);
  }
  const out: Ranking[] = new Array(queries.ids.length);
  const offset = total - queries.ids.length;
  scoreAll(
    input,
    batch,
    (qi, s) => {
      const idx = topK(s, k, hib, leaveOneOut ? qi : -1);
      out[qi] = toRanking(queries.ids[qi], idx, s, db.ids, metric, opts.labels, qLabels?.get(queries.ids[qi]));
    },
    (done) => rep.progress("rank", offset + done, total),
  );
  return out;
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
