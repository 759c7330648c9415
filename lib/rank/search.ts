/**
 * Exact search for large collections: the same scores and tie-breaking as rankAll / rankQueries, with the
 * dot products computed by ONNX Runtime's Gemm in batches of queries (kernel "onnx"), or by the JS kernel
 * (kernel "js"). "auto" picks ONNX Runtime once the work is large enough to repay building a session.
 * Measured on 2 shared cores (bench/rank-kernels.ts, 100,000 x 1,280): one query 47 ms on ONNX Runtime vs
 * 268 ms in JS and 174 ms on tfjs-wasm; a batch of 64 queries 218 ms (ORT) vs 6.8 s (JS) and 6.3 s (tfjs-wasm).
 * `ExactIndex` keeps the prepared database and the session, so repeated queries pay only the search.
 */
import { assertSameFingerprint } from "../fingerprint";
import { expectOneOf, invalidOption } from "../errors";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix, Ranking } from "../types";
import { emptyExpansion, expandQueries, expansionOptions, prepareSearch, rankingWork, recordExpansion, toRanking, type RankOptions, type ScoreInput } from "./exact";
import { dotBlock } from "./kernel";
import { METRICS, dataRange, finishScores, higherIsBetter, prepareRows, type Metric, type RowStats, type VectorMetric } from "./metrics";
import { OnnxDotProduct } from "./onnx-gemm";
import { topK } from "./topk";

export const KERNELS = ["auto", "js", "onnx"] as const;
export type Kernel = (typeof KERNELS)[number];

export interface ExactIndexOptions {
  /** Default "cosine"; every metric but ssim-image. */
  metric?: Metric;
  /** Default "auto": ONNX Runtime for databases of more than 2,000,000 values (rows x dim), else the JS kernel. */
  kernel?: Kernel;
  /** ONNX Runtime intra-op threads (default 1). */
  threads?: number;
  /** id -> label, copied into hits. */
  labels?: Map<string, string>;
  ssimRange?: number;
}

export interface SearchOptions {
  k?: number;
  /** Query expansion with n hits, similarity-weighted for cosine (see RankOptions). */
  queryExpansion?: number;
  queryExpansionAlpha?: number;
  /** Database-side augmentation with query expansion (see RankOptions; default true). */
  augmentDatabase?: boolean;
  queryLabels?: Map<string, string>;
  /** Query i skips database row i (leave-one-out; queries must be the database itself). */
  leaveOneOut?: boolean;
  /** Queries per kernel call (default 64). */
  batch?: number;
  reporter?: Reporter;
}

/**
 * Database rows above which external queries skip database-side augmentation: it needs every row's own
 * top n once (an all-pairs pass, about 10 s for 10,000 x 1,280 on 2 cores, quadratic beyond).
 */
export const AUGMENT_MAX_ROWS = 20000;

/** Database size (rows x dim) above which "auto" builds an ONNX Runtime session. */
const AUTO_ONNX_VALUES = 2e6;

export class ExactIndex {
  private constructor(
    readonly db: FeatureMatrix,
    readonly metric: VectorMetric,
    private readonly prepared: RowStats,
    private readonly range: number,
    private readonly labels: Map<string, string> | undefined,
    private readonly ort: OnnxDotProduct | undefined,
  ) {}

  /** Augmented database rows per "n:alpha", computed once for external queries (DBA). */
  private readonly augmented = new Map<string, FeatureMatrix>();

  static async create(db: FeatureMatrix, opts: ExactIndexOptions = {}): Promise<ExactIndex> {
    const metric = expectOneOf("metric", opts.metric ?? "cosine", METRICS);
    if (metric === "ssim-image") throw invalidOption("metric", "a feature-vector metric (ssim-image ranks through rankAll / rankQueries)", metric);
    const kernel = expectOneOf("kernel", opts.kernel ?? "auto", KERNELS);
    const prepared = prepareRows(metric, db.data, db.ids.length, db.dim);
    const useOrt = kernel === "onnx" || (kernel === "auto" && db.data.length > AUTO_ONNX_VALUES);
    const ort = useOrt ? await OnnxDotProduct.create(db.dim, { threads: opts.threads }) : undefined;
    return new ExactIndex(db, metric, prepared, opts.ssimRange ?? dataRange(db.data), opts.labels, ort);
  }

  get kernel(): "js" | "onnx" {
    return this.ort ? "onnx" : "js";
  }

  private async dots(q: Float32Array, nQ: number, db: Float32Array): Promise<Float32Array> {
    const nDb = this.db.ids.length;
    if (this.ort) return this.ort.dots(q, nQ, db, nDb);
    const out = new Float32Array(nQ * nDb);
    dotBlock(q, nQ, db, nDb, this.db.dim, out);
    return out;
  }

  /** The database rows expanded with their own top n (itself excluded), cached per setting. */
  private async augmentedDb(n: number, alpha: number, batch: number, progress: (done: number) => void): Promise<FeatureMatrix> {
    const key = `${n}:${alpha}`;
    const hit = this.augmented.get(key);
    if (hit) {
      progress(this.db.ids.length);
      return hit;
    }
    const db = this.db;
    const self = prepareSearch(db, db, this.metric, this.range, this.prepared);
    const e = emptyExpansion(db.ids.length);
    const hib = higherIsBetter(this.metric);
    await this.scoreAll(self, batch, (i, s) => recordExpansion(e, i, topK(s, n, hib, i), s, this.metric, alpha), progress);
    const out = { ids: db.ids, dim: db.dim, data: expandQueries(self.q, self.db, self.d, e), fingerprint: db.fingerprint };
    this.augmented.set(key, out);
    return out;
  }

  private async scoreAll(input: ScoreInput, batch: number, take: (qi: number, s: Float32Array) => void, progress: (done: number) => void) {
    const { nQ, nDb, d } = input;
    for (let s = 0; s < nQ; s += batch) {
      const nb = Math.min(batch, nQ - s);
      const block = await this.dots(input.q.data.subarray(s * d, (s + nb) * d), nb, input.db.data);
      finishScores({ metric: input.metric, d, q: input.q, db: input.db, range: input.range }, block, s, nb, nDb);
      for (let i = 0; i < nb; i++) take(s + i, block.subarray(i * nDb, (i + 1) * nDb));
      progress(s + nb);
    }
  }

  /** Ranks `queries` (same fingerprint as the database) against it. */
  async search(queries: FeatureMatrix, opts: SearchOptions = {}): Promise<Ranking[]> {
    const db = this.db;
    if (queries !== db) assertSameFingerprint(db.fingerprint, queries.fingerprint);
    const k = opts.k ?? 10;
    if (!(k === Infinity || (Number.isInteger(k) && k >= 0))) throw invalidOption("k", "non-negative integer or Infinity", opts.k);
    const batch = opts.batch ?? 64;
    if (!Number.isInteger(batch) || batch < 1) throw invalidOption("batch", "positive integer", opts.batch);
    const expansion = expansionOptions(opts);
    const { n: qe, alpha } = expansion;
    const loo = Boolean(opts.leaveOneOut);
    if (loo && queries.ids.length !== db.ids.length) throw invalidOption("leaveOneOut", "queries that are the database itself", queries.ids.length);
    const rep = reporterOf(opts.reporter);
    let augment = expansion.augment;
    if (qe > 0 && augment && !loo && db.ids.length > AUGMENT_MAX_ROWS && !this.augmented.has(`${qe}:${alpha}`)) {
      augment = false;
      rep.info(`query expansion without database-side augmentation: ${db.ids.length} rows are more than ${AUGMENT_MAX_ROWS} (it needs an all-pairs pass); pass augmentDatabase: false to silence this`);
    }
    const metric = this.metric;
    const hib = higherIsBetter(metric);
    const qLabels = loo ? this.labels : opts.queryLabels;
    let input = prepareSearch(db, queries, metric, this.range, this.prepared);
    const total = rankingWork(queries.ids.length, db.ids.length, qe, augment, loo);
    if (qe > 0) {
      const e = emptyExpansion(queries.ids.length);
      await this.scoreAll(input, batch, (qi, s) => recordExpansion(e, qi, topK(s, qe, hib, loo ? qi : -1), s, metric, alpha), (d) => rep.progress("rank", d, total));
      const q = { ids: queries.ids, dim: queries.dim, data: expandQueries(input.q, input.db, input.d, e), fingerprint: queries.fingerprint };
      let base: FeatureMatrix = db;
      if (augment && loo) base = q; // the queries are the database: same neighbours, same rows
      else if (augment) base = await this.augmentedDb(qe, alpha, batch, (d) => rep.progress("rank", queries.ids.length + d, total));
      input = prepareSearch(base, q, metric, this.range, base === db ? this.prepared : undefined);
    }
    const out: Ranking[] = new Array(queries.ids.length);
    const offset = total - queries.ids.length;
    await this.scoreAll(
      input,
      batch,
      (qi, s) => (out[qi] = toRanking(queries.ids[qi], topK(s, k, hib, loo ? qi : -1), s, db.ids, metric, this.labels, qLabels?.get(queries.ids[qi]))),
      (d) => rep.progress("rank", offset + d, total),
    );
    return out;
  }

  async dispose(): Promise<void> {
    await this.ort?.dispose();
  }
}

export type FastRankOptions = RankOptions & { kernel?: Kernel; threads?: number };

async function once(db: FeatureMatrix, queries: FeatureMatrix, loo: boolean, opts: FastRankOptions): Promise<Ranking[]> {
  const index = await ExactIndex.create(db, opts);
  try {
    return await index.search(queries, { ...opts, leaveOneOut: loo });
  } finally {
    await index.dispose();
  }
}

/** rankAll on the fastest kernel (leave-one-out over every row). */
export function rankAllFast(m: FeatureMatrix, opts: FastRankOptions = {}): Promise<Ranking[]> {
  return once(m, m, true, opts);
}

/** rankQueries on the fastest kernel. */
export function rankQueriesFast(db: FeatureMatrix, queries: FeatureMatrix, opts: FastRankOptions = {}): Promise<Ranking[]> {
  assertSameFingerprint(db.fingerprint, queries.fingerprint);
  return once(db, queries, false, opts);
}
