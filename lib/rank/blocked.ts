/**
 * The blocked all-pairs loop that every vector ranking runs through (rankAll / rankQueries, ExactIndex,
 * `cbir eval`, the demo). Queries are scored against the whole database one block of rows at a time; each
 * score row is handed to the consumers (top-k selection, the neighbours of query expansion, average
 * precision over the full ranking) and then dropped. Memory is one block (batch x database scores) plus
 * what the consumers keep, O(n k) for top-k lists: no n x n ranking or score matrix is ever held.
 *
 * The dot products come from a `DotKernel`: the register-blocked JS loop (synchronous) or ONNX Runtime's
 * Gemm (asynchronous). The loop stays synchronous when its kernel is, so rankAll keeps a synchronous API.
 * Other kernels (compressed vectors, SIMD) plug in here without touching the loop or its consumers.
 */
import { invalidOption } from "../errors";
import type { FeatureMatrix, Hit, Ranking } from "../types";
import { dotBlock } from "./kernel";
import { dataRange, finishScores, higherIsBetter, prepareRows, type Metric, type RowStats, type ScoreContext, type VectorMetric } from "./metrics";
import type { OnnxDotProduct } from "./onnx-gemm";
import { topK } from "./topk";

export type MaybePromise<T> = T | Promise<T>;

/** `f(x)`, at once when `x` is a value, after it resolves when it is a promise. */
export function then<T, U>(x: MaybePromise<T>, f: (v: T) => MaybePromise<U>): MaybePromise<U> {
  return x instanceof Promise ? x.then(f) : f(x);
}

/**
 * nQ x nDb dot products of row-major `q` (nQ x d) and `db` (nDb x d), row i at [i * nDb]. The result is
 * read before the next call, so a kernel may reuse one buffer. A kernel may keep its own encoding of a
 * database it sees again (the same `db` array) instead of reading the float32 rows.
 */
export interface DotKernel {
  readonly name: string;
  dots(q: Float32Array, nQ: number, db: Float32Array, nDb: number, d: number): MaybePromise<Float32Array>;
}

/** The JS kernel (kernel.ts), with one reused output buffer. */
export function jsDotKernel(): DotKernel {
  let buf = new Float32Array(0);
  return {
    name: "js",
    dots(q, nQ, db, nDb, d) {
      if (buf.length < nQ * nDb) buf = new Float32Array(nQ * nDb);
      const out = buf.subarray(0, nQ * nDb);
      dotBlock(q, nQ, db, nDb, d, out);
      return out;
    },
  };
}

/** ONNX Runtime's Gemm through an open session (onnx-gemm.ts). */
export function onnxDotKernel(session: OnnxDotProduct): DotKernel {
  return { name: "onnx", dots: (q, nQ, db, nDb) => session.dots(q, nQ, db, nDb) };
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

/** Validates and prepares both sides of a scoring pass. */
export function prepareSearch(db: FeatureMatrix, queries: FeatureMatrix, metric: VectorMetric, range?: number, preparedDb?: RowStats): ScoreInput {
  const d = db.dim;
  if (queries.dim !== d) throw invalidOption("query dimension", `${d} (the database's)`, queries.dim);
  const dbStats = preparedDb ?? prepareRows(metric, db.data, db.ids.length, d);
  const qStats = queries === db ? dbStats : prepareRows(metric, queries.data, queries.ids.length, d);
  return { db: dbStats, q: qStats, nDb: db.ids.length, nQ: queries.ids.length, d, metric, range: range ?? dataRange(db.data) };
}

/**
 * The loop itself: scores `input` `batch` query rows at a time and hands each query's score row over the
 * database to `take` (query index, scores; the row is only valid during the call).
 */
export function forEachScoreRow(
  input: ScoreInput,
  kernel: DotKernel,
  batch: number,
  take: (qi: number, scores: Float32Array) => void,
  progress?: (done: number) => void,
): MaybePromise<void> {
  const { nQ, nDb, d } = input;
  const ctx: ScoreContext = { metric: input.metric, d, q: input.q, db: input.db, range: input.range };
  const finish = (s: number, nb: number, dots: Float32Array) => {
    finishScores(ctx, dots, s, nb, nDb);
    for (let i = 0; i < nb; i++) take(s + i, dots.subarray(i * nDb, (i + 1) * nDb));
    progress?.(s + nb);
  };
  const from = (start: number): MaybePromise<void> => {
    for (let s = start; s < nQ; s += batch) {
      const nb = Math.min(batch, nQ - s);
      const dots = kernel.dots(input.q.data.subarray(s * d, (s + nb) * d), nb, input.db.data, nDb, d);
      if (dots instanceof Promise) return dots.then((v) => (finish(s, nb, v), from(s + nb)));
      finish(s, nb, dots);
    }
  };
  return from(0);
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

export function checkK(k: number | undefined): number {
  const v = k ?? 10;
  if (!(v === Infinity || (Number.isInteger(v) && v >= 0))) throw invalidOption("k", "non-negative integer or Infinity", k);
  return v;
}

export function checkBatch(batch: number | undefined): number {
  const v = batch ?? 64;
  if (!Number.isInteger(v) || v < 1) throw invalidOption("batch", "positive integer", batch);
  return v;
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

/** The database rows expanded with their own top n (itself excluded): database-side augmentation. */
export function augmentDatabaseRows(db: FeatureMatrix, self: ScoreInput, kernel: DotKernel, batch: number, n: number, alpha: number, progress: (done: number) => void): MaybePromise<FeatureMatrix> {
  const e = emptyExpansion(db.ids.length);
  const hib = higherIsBetter(self.metric);
  const pass = forEachScoreRow(self, kernel, batch, (i, s) => recordExpansion(e, i, topK(s, n, hib, i), s, self.metric, alpha), progress);
  return then(pass, () => ({ ids: db.ids, dim: db.dim, data: expandQueries(self.q, self.db, self.d, e), fingerprint: db.fingerprint }));
}

export interface BlockedRankPlan {
  metric: VectorMetric;
  /** Hits kept per query. */
  k: number;
  batch: number;
  kernel: DotKernel;
  /** Query i skips database row i (the queries are the database). */
  leaveOneOut: boolean;
  /** Query expansion: n hits (0 = off), their weight exponent, database-side augmentation. */
  expansion: { n: number; alpha: number; augment: boolean };
  /** Prepared database rows and SSIM range, when the caller keeps them between searches. */
  preparedDb?: RowStats;
  range?: number;
  /** The augmented database, when the caller caches it (ExactIndex); default: computed here. */
  augmentedDb?: (self: ScoreInput, progress: (done: number) => void) => MaybePromise<FeatureMatrix>;
  labels?: Map<string, string>;
  queryLabels?: Map<string, string>;
  /** Every query's full final score row, before it is dropped (streaming statistics such as AP). */
  onRow?: (qi: number, scores: Float32Array) => void;
  progress?: (done: number, total: number) => void;
}

/**
 * Top-k rankings of `queries` against `db` through the blocked loop: with query expansion, a first pass
 * finds each query's (and, for DBA with external queries, each database row's) top n, a second pass ranks
 * with the expanded vectors. Leave-one-out with DBA: the queries are the database, so their expanded rows
 * are the augmented database. Synchronous when the kernel is.
 */
export function rankBlocked(db: FeatureMatrix, queries: FeatureMatrix, plan: BlockedRankPlan): MaybePromise<Ranking[]> {
  const { metric, kernel, batch, leaveOneOut: loo } = plan;
  const { n: qe, alpha, augment } = plan.expansion;
  const hib = higherIsBetter(metric);
  const nQ = queries.ids.length;
  const total = rankingWork(nQ, db.ids.length, qe, augment, loo);
  const report = (offset: number) => (done: number) => plan.progress?.(offset + done, total);
  const first = prepareSearch(db, queries, metric, plan.range, plan.preparedDb);

  let input: MaybePromise<ScoreInput> = first;
  if (qe > 0) {
    const e = emptyExpansion(nQ);
    const pass = forEachScoreRow(first, kernel, batch, (qi, s) => recordExpansion(e, qi, topK(s, qe, hib, loo ? qi : -1), s, metric, alpha), report(0));
    input = then(pass, () => {
      const q = { ids: queries.ids, dim: queries.dim, data: expandQueries(first.q, first.db, first.d, e), fingerprint: queries.fingerprint };
      let base: MaybePromise<FeatureMatrix> = db;
      if (augment && loo) base = q; // the queries are the database: same neighbours, same rows
      else if (augment) {
        const self = prepareSearch(db, db, metric, first.range, first.db);
        base = plan.augmentedDb ? plan.augmentedDb(self, report(nQ)) : augmentDatabaseRows(db, self, kernel, batch, qe, alpha, report(nQ));
      }
      // cosine rows are re-normalised by prepareSearch; other metrics compare the averaged vectors as they are
      return then(base, (b) => prepareSearch(b, q, metric, first.range, b === db ? first.db : undefined));
    });
  }
  const qLabels = loo ? plan.labels : plan.queryLabels;
  const out: Ranking[] = new Array(nQ);
  return then(input, (final) => {
    const pass = forEachScoreRow(
      final,
      kernel,
      batch,
      (qi, s) => {
        out[qi] = toRanking(queries.ids[qi], topK(s, plan.k, hib, loo ? qi : -1), s, db.ids, metric, plan.labels, qLabels?.get(queries.ids[qi]));
        plan.onRow?.(qi, s);
      },
      report(total - nQ),
    );
    return then(pass, () => out);
  });
}
