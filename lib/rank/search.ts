/**
 * Exact search for large collections: the same scores and tie-breaking as rankAll / rankQueries, with the
 * dot products computed by ONNX Runtime's Gemm in batches of queries (kernel "onnx"), or by the JS kernel
 * (kernel "js"). "auto" picks ONNX Runtime once the work is large enough to repay building a session.
 * Measured on 2 shared cores (bench/rank-kernels.ts, 100,000 x 1,280): one query 47 ms on ONNX Runtime vs
 * 268 ms in JS and 174 ms on tfjs-wasm; a batch of 64 queries 218 ms (ORT) vs 6.8 s (JS) and 6.3 s (tfjs-wasm).
 * `ExactIndex` keeps the prepared database and the session, so repeated queries pay only the search.
 */
import { assertSameFingerprint, type Fingerprint } from "../fingerprint";
import { expectOneOf, invalidOption } from "../errors";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix, Ranking } from "../types";
import { augmentDatabaseRows, checkBatch, checkK, emptyExpansion, expandQueries, expansionOptions, jsDotKernel, onnxDotKernel, rankBlocked, type DotKernel, type ScoreInput } from "./blocked";
import { EncodedIndex, normaliseRows, type RowReader } from "./encoded-search";
import { checkEncoding, decodeRows, type Encoding, type EncodedVectors } from "./encoding";
import type { RankOptions } from "./exact";
import { METRICS, dataRange, prepareRows, type Metric, type RowStats, type VectorMetric } from "./metrics";
import { OnnxDotProduct } from "./onnx-gemm";

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
  /** Every query's full final score row before it is dropped (see RankOptions.onRow). */
  onRow?: (queryIndex: number, scores: Float32Array) => void;
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

  /** The kernel under the blocked loop: ONNX Runtime's Gemm when a session is open, else the JS loop. */
  private kernelOf(): DotKernel {
    return this.ort ? onnxDotKernel(this.ort) : jsDotKernel();
  }

  /** The database rows expanded with their own top n (itself excluded), cached per setting. */
  private async augmentedDb(self: ScoreInput, n: number, alpha: number, batch: number, progress: (done: number) => void): Promise<FeatureMatrix> {
    const key = `${n}:${alpha}`;
    const hit = this.augmented.get(key);
    if (hit) {
      progress(this.db.ids.length);
      return hit;
    }
    const out = await augmentDatabaseRows(this.db, self, this.kernelOf(), batch, n, alpha, progress);
    this.augmented.set(key, out);
    return out;
  }

  // ---- STUB (issue 21 phase 2, store helper): a minimal fromEncoded until the rank helper's lands; replaced at merge ----
  private encodedStub?: { index: EncodedIndex; rows?: RowReader; refine: number };

  /** An index over rows already encoded (encodeForCosine): cosine only. `rows`: float32 rows for refine, read lazily. */
  static async fromEncoded(
    src: { ids: string[]; fingerprint: Fingerprint; vectors: EncodedVectors; rows?: RowReader },
    opts: ExactIndexOptions & { vectors?: Encoding; refine?: number } = {},
  ): Promise<ExactIndex> {
    if ((opts.metric ?? "cosine") !== "cosine") throw invalidOption("metric", "cosine (encoded vectors are ranked by cosine only)", opts.metric);
    if (opts.vectors) checkEncoding(opts.vectors, src.vectors);
    const db: FeatureMatrix = { ids: src.ids, dim: src.vectors.dim, data: new Float32Array(0), fingerprint: src.fingerprint };
    const x = new ExactIndex(db, "cosine", { data: db.data }, 0, opts.labels, undefined);
    x.encodedStub = { index: EncodedIndex.create(src.vectors, { threads: opts.threads }), rows: src.rows, refine: opts.refine ?? 1 };
    return x;
  }

  /** External queries against the codes; query expansion decodes the neighbours' codes (no database-side augmentation). */
  private async searchEncodedStub(queries: FeatureMatrix, opts: SearchOptions): Promise<Ranking[]> {
    const { index, rows, refine } = this.encodedStub!;
    assertSameFingerprint(this.db.fingerprint, queries.fingerprint);
    if (opts.leaveOneOut) throw invalidOption("leaveOneOut", "false (this encoded index ranks external queries)", opts.leaveOneOut);
    const k = checkK(opts.k);
    const batch = checkBatch(opts.batch);
    const { n: qe, alpha } = expansionOptions(opts);
    const n = this.db.ids.length;
    const d = this.db.dim;
    const nQ = queries.ids.length;
    let q = queries.data;
    if (qe > 0 && n > 0) {
      reporterOf(opts.reporter).info(`query expansion on ${index.encoding} codes: the ${qe} neighbours are decoded from the codes; no database-side augmentation`);
      const first = await index.search(q, nQ, { k: Math.min(qe, n), batch });
      const e = emptyExpansion(nQ);
      const rowsOf: number[] = [];
      first.forEach((h, i) => {
        e.neighbours[i] = Array.from(h.rows, (_, j) => rowsOf.push(h.rows[j]) - 1);
        e.weights[i] = Array.from(h.scores, (s) => Math.pow(Math.max(0, s), alpha));
      });
      q = expandQueries({ data: normaliseRows(q, nQ, d) }, { data: decodeRows(index.vectors, rowsOf) }, d, e);
    }
    const hits = n > 0 ? await index.search(q, nQ, { k: Math.min(k, n), refine, rows, batch }) : queries.ids.map(() => ({ rows: new Int32Array(0), scores: new Float32Array(0) }));
    return hits.map((h, i) => {
      const r: Ranking = {
        query: queries.ids[i],
        hits: Array.from(h.rows, (row, j) => {
          const id = this.db.ids[row];
          const label = this.labels?.get(id);
          return label === undefined ? { id, score: h.scores[j] } : { id, score: h.scores[j], label };
        }),
        metric: "cosine",
        higherIsBetter: true,
      };
      const ql = opts.queryLabels?.get(queries.ids[i]);
      if (ql !== undefined) r.queryLabel = ql;
      return r;
    });
  }
  // ---- end of STUB ----

  /** Ranks `queries` (same fingerprint as the database) against it. */
  async search(queries: FeatureMatrix, opts: SearchOptions = {}): Promise<Ranking[]> {
    if (this.encodedStub) return this.searchEncodedStub(queries, opts); // STUB (see above)
    const db = this.db;
    if (queries !== db) assertSameFingerprint(db.fingerprint, queries.fingerprint);
    const k = checkK(opts.k);
    const batch = checkBatch(opts.batch);
    const expansion = expansionOptions(opts);
    const { n: qe, alpha } = expansion;
    const loo = Boolean(opts.leaveOneOut);
    if (loo && queries.ids.length !== db.ids.length) throw invalidOption("leaveOneOut", "queries that are the database itself", queries.ids.length);
    const rep = reporterOf(opts.reporter);
    if (qe > 0 && expansion.augment && !loo && db.ids.length > AUGMENT_MAX_ROWS && !this.augmented.has(`${qe}:${alpha}`)) {
      expansion.augment = false;
      rep.info(`query expansion without database-side augmentation: ${db.ids.length} rows are more than ${AUGMENT_MAX_ROWS} (it needs an all-pairs pass); pass augmentDatabase: false to silence this`);
    }
    return rankBlocked(db, queries, {
      metric: this.metric,
      k,
      batch,
      kernel: this.kernelOf(),
      leaveOneOut: loo,
      expansion,
      preparedDb: this.prepared,
      range: this.range,
      augmentedDb: (self, progress) => this.augmentedDb(self, qe, alpha, batch, progress),
      labels: this.labels,
      queryLabels: opts.queryLabels,
      onRow: opts.onRow,
      progress: (done, total) => rep.progress("rank", done, total),
    });
  }

  async dispose(): Promise<void> {
    await this.encodedStub?.index.dispose(); // STUB (see above)
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
