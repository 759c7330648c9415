/**
 * The re-ranking step: query expansion (QE) and database-side augmentation (DBA), written once for every
 * vector search (the exact engine on every kernel and encoding, and the store's graph search).
 *
 * A first pass finds each query's top n; each query row is replaced by the weighted mean of itself and
 * those n rows (alpha-QE: weights VectorMetric.expansionWeight, 1 for a metric without one). With DBA the
 * database rows are expanded the same way (each with its own top n, itself excluded), so queries and
 * database live in the same smoothed space; on food7's first half it lifts mAP where query-only expansion
 * barely moves it. Leave-one-out with DBA: the queries are the database, so their expanded rows are the
 * augmented database.
 */
import { invalidOption } from "../errors";
import type { FeatureMatrix, Ranking } from "../types";
import { forEachScoreRow, ownRow, preparedRows, prepareSearch, refinePass, then, type DotKernel, type MaybePromise, type ScoreInput } from "./blocked";
import type { RowStats, VectorMetric } from "./metrics/index";
import { topK } from "./topk";

/** The neighbours of each query row that query expansion adds, with their weights. */
export interface Expansion {
  neighbours: number[][];
  weights: number[][];
}

/** QE's n hits (0 = off), the exponent of their weights, and whether the database is augmented too. */
export interface ExpansionPlan {
  n: number;
  alpha: number;
  augment: boolean;
}

/** Validates the expansion options; returns n (0 = off), alpha and whether the database is augmented. */
export function expansionOptions(opts: { queryExpansion?: number; queryExpansionAlpha?: number; augmentDatabase?: boolean }): ExpansionPlan {
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

/** The weight of a hit scored `score` in the expanded query (1 for a metric without expansionWeight). */
export function expansionWeight(metric: VectorMetric, score: number, alpha: number): number {
  return metric.expansionWeight ? metric.expansionWeight(score, alpha) : 1;
}

/** Records query qi's top-n neighbours from its score row, with their weights. */
export function recordExpansion(e: Expansion, qi: number, idx: number[], scores: Float32Array, metric: VectorMetric, alpha: number): void {
  e.neighbours[qi] = idx;
  e.weights[qi] = idx.map((j) => expansionWeight(metric, scores[j], alpha));
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

/**
 * expandQueries when the database's prepared rows may be read on demand (RowStats.read): only the
 * neighbours' rows are read, once each.
 */
export function expandQueriesFrom(q: RowStats, db: RowStats, d: number, e: Expansion): MaybePromise<Float32Array> {
  if (!db.read) return expandQueries(q, db, d, e);
  const slot = new Map<number, number>();
  for (const nb of e.neighbours) for (const j of nb) if (!slot.has(j)) slot.set(j, slot.size);
  const local: Expansion = { neighbours: e.neighbours.map((nb) => nb.map((j) => slot.get(j)!)), weights: e.weights };
  return then(preparedRows(db, Int32Array.from(slot.keys()), d), (x) => expandQueries(q, { data: x }, d, local));
}

/** The database rows expanded with their own top n (itself excluded): database-side augmentation. */
export function augmentDatabaseRows(db: FeatureMatrix, self: ScoreInput, kernel: DotKernel, batch: number, n: number, alpha: number, progress: (done: number) => void, refine?: number): MaybePromise<FeatureMatrix> {
  const e = emptyExpansion(db.ids.length);
  const hib = self.metric.higherIsBetter;
  const pass = forEachScoreRow(self, kernel, batch, (i, s) => recordExpansion(e, i, topK(s, n, hib, ownRow(true, i)), s, self.metric, alpha), progress, refinePass(refine, n, true));
  return then(pass, () => ({ ids: db.ids, dim: db.dim, data: expandQueries(self.q, self.db, self.d, e), fingerprint: db.fingerprint }));
}

/**
 * The expansion of each query from the rankings of a first search that returns ids (the store's HNSW
 * graph): neighbours index `rows`, the database rows to read for expandQueries, in that order.
 */
export function expansionFromRankings(first: Ranking[], rowOf: Map<string, number>, metric: VectorMetric, alpha: number): { expansion: Expansion; rows: number[] } {
  const expansion = emptyExpansion(first.length);
  const rows: number[] = [];
  first.forEach((r, i) => {
    expansion.neighbours[i] = r.hits.map((h) => rows.push(rowOf.get(h.id)!) - 1);
    expansion.weights[i] = r.hits.map((h) => expansionWeight(metric, h.score, alpha));
  });
  return { expansion, rows };
}

/**
 * Query expansion of one query from the hits a search returned with their vectors (LanceDB's search over
 * a table too large for the exact engine): the query plus its first n hits weighted by expansionWeight
 * (alpha 1), scaled to unit length when `unitLength` (a search by cosine distance on raw vectors), else
 * divided by 1 + the hits used (their mean, for a metric whose hits weigh 1).
 */
export function expandFromHits(query: Float32Array, hits: { score: number; vector?: Float32Array }[], metric: VectorMetric, n: number, unitLength: boolean): Float32Array {
  const sum = Float32Array.from(query);
  for (const h of hits.slice(0, n)) {
    const w = expansionWeight(metric, h.score, 1);
    for (let j = 0; j < sum.length; j++) sum[j] += w * h.vector![j];
  }
  if (unitLength) {
    const norm = Math.hypot(...sum) || 1;
    for (let j = 0; j < sum.length; j++) sum[j] /= norm;
  } else for (let j = 0; j < sum.length; j++) sum[j] /= 1 + Math.min(n, hits.length);
  return sum;
}

export interface RerankPass {
  kernel: DotKernel;
  batch: number;
  refine?: number;
  leaveOneOut: boolean;
  expansion: ExpansionPlan;
  /** The augmented database, when the caller caches it (ExactIndex); default: computed here. */
  augmentedDb?: (self: ScoreInput, progress: (done: number) => void) => MaybePromise<FeatureMatrix>;
  /** Progress of the first pass (queries' top n) and of DBA's pass over the database, from 0. */
  progress: (done: number) => void;
}

/**
 * The re-ranking step: from the first pass's input (`first`: the queries and database as prepared), the
 * input of the final pass, with the expanded queries and, with DBA, the augmented database. Returns
 * `first` itself when query expansion is off. Synchronous when the kernel is.
 */
export function rerankInput(db: FeatureMatrix, queries: FeatureMatrix, first: ScoreInput, pass: RerankPass): MaybePromise<ScoreInput> {
  const { n: qe, alpha, augment } = pass.expansion;
  if (qe === 0) return first;
  const { metric } = first;
  const { kernel, batch, refine, leaveOneOut: loo } = pass;
  const nQ = queries.ids.length;
  const e = emptyExpansion(nQ);
  const hib = metric.higherIsBetter;
  const found = forEachScoreRow(first, kernel, batch, (qi, s) => recordExpansion(e, qi, topK(s, qe, hib, ownRow(loo, qi)), s, metric, alpha), pass.progress, refinePass(refine, qe, loo));
  return then(found, () =>
    then(expandQueriesFrom(first.q, first.db, first.d, e), (expanded) => {
      const q = { ids: queries.ids, dim: queries.dim, data: expanded, fingerprint: queries.fingerprint };
      let base: MaybePromise<FeatureMatrix> = db;
      if (augment && loo) base = q; // the queries are the database: same neighbours, same rows
      else if (augment) {
        const self = prepareSearch(db, db, metric, first.range, first.db);
        const dbaProgress = (done: number) => pass.progress(nQ + done);
        base = pass.augmentedDb ? pass.augmentedDb(self, dbaProgress) : augmentDatabaseRows(db, self, kernel, batch, qe, alpha, dbaProgress, refine);
      }
      // cosine rows are re-normalised by prepare; other metrics compare the averaged vectors as they are
      return then(base, (b) => prepareSearch(b, q, metric, first.range, b === db ? first.db : undefined));
    }),
  );
}
