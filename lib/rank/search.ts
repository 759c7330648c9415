/**
 * Exact search for large collections: the same scores and tie-breaking as rankAll / rankQueries, with the
 * dot products computed by ONNX Runtime's Gemm in batches of queries (kernel "onnx"), or by the JS kernel
 * (kernel "js"). "auto" picks ONNX Runtime once the work is large enough to repay building a session.
 * Measured on 2 shared cores (bench/rank-kernels.ts, 100,000 x 1,280): one query 47 ms on ONNX Runtime vs
 * 268 ms in JS and 174 ms on tfjs-wasm; a batch of 64 queries 218 ms (ORT) vs 6.8 s (JS) and 6.3 s (tfjs-wasm).
 * `ExactIndex` keeps the prepared database and the session, so repeated queries pay only the search.
 *
 * Vector encodings (option `vectors`): "f32" is the above, unchanged. "f16" and "i8" score codes of the
 * prepared rows on ONNX Runtime (encoded-kernel.ts) inside the same blocked loop, with optional refine
 * (re-score the best r x k by exact float32 dots). `ExactIndex.fromEncoded` searches codes a store holds,
 * reading float32 rows only for refine and query expansion.
 */
import { assertSameFingerprint, type Fingerprint } from "../fingerprint";
import { CbirError, expectOneOf, invalidOption } from "../errors";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix, Ranking } from "../types";
import { augmentDatabaseRows, checkBatch, checkK, expansionOptions, jsDotKernel, onnxDotKernel, rankBlocked, then, type DotKernel, type ScoreInput } from "./blocked";
import { EncodedDotKernel, checkEncodedMetric } from "./encoded-kernel";
import { normaliseRows, type RowReader } from "./encoded-search";
import { ENCODINGS, checkEncodedVectors, checkEncoding, decodeRows, type Encoding, type EncodedVectors } from "./encoding";
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
  /**
   * Encoding of the search rows (default "f32": today's kernels and bit-identical rankings). "f16" / "i8"
   * encode the prepared rows once and score the codes on ONNX Runtime (any metric but ssim-image; i8's
   * scale and offset are fitted on the prepared rows); `kernel` must then be "auto" or "onnx".
   */
  vectors?: Encoding;
  /** Re-score the best refine x k candidates with float32 rows (default 1 = off). */
  refine?: number;
}

/** The refine option: an integer >= 1, 1 = off. */
export function checkRefine(refine: number | undefined): number {
  const r = refine ?? 1;
  if (!Number.isInteger(r) || r < 1) throw invalidOption("refine", "integer >= 1 (1 = off)", refine);
  return r;
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
    /** The f16 / i8 kernel; undefined for f32. */
    private readonly coded: EncodedDotKernel | undefined,
    readonly encoding: Encoding,
    readonly refine: number,
  ) {}

  /** Augmented database rows per "n:alpha", computed once for external queries (DBA). */
  private readonly augmented = new Map<string, FeatureMatrix>();

  static async create(db: FeatureMatrix, opts: ExactIndexOptions = {}): Promise<ExactIndex> {
    const metric = expectOneOf("metric", opts.metric ?? "cosine", METRICS);
    const vectors = expectOneOf("vectors", opts.vectors ?? "f32", ENCODINGS);
    checkEncodedMetric(metric, vectors);
    if (metric === "ssim-image") throw invalidOption("metric", "a feature-vector metric (ssim-image ranks through rankAll / rankQueries)", metric);
    const kernel = expectOneOf("kernel", opts.kernel ?? "auto", KERNELS);
    const refine = checkRefine(opts.refine);
    const prepared = prepareRows(metric, db.data, db.ids.length, db.dim);
    const range = opts.ssimRange ?? dataRange(db.data);
    if (vectors !== "f32") {
      if (kernel === "js") throw invalidOption("kernel", `"auto" or "onnx" (${vectors} vectors are scored on ONNX Runtime)`, kernel);
      const coded = new EncodedDotKernel(vectors, { threads: opts.threads });
      return new ExactIndex(db, metric, prepared, range, opts.labels, undefined, coded, vectors, refine);
    }
    const useOrt = kernel === "onnx" || (kernel === "auto" && db.data.length > AUTO_ONNX_VALUES);
    const ort = useOrt ? await OnnxDotProduct.create(db.dim, { threads: opts.threads }) : undefined;
    return new ExactIndex(db, metric, prepared, range, opts.labels, ort, undefined, "f32", refine);
  }

  /**
   * An index over rows already encoded by a store: cosine only. `vectors` are the L2-normalised rows,
   * encoded (encodeForCosine; i8 fitted on the normalised rows). `rows` reads float32 rows of the search
   * vectors as stored (post-processed, not normalised; normalised here), lazily: only the candidates of
   * refine and the neighbours of query expansion are read. Without `rows`, query expansion averages the
   * decoded codes and refine is refused. External queries skip database-side augmentation (it would read
   * every row); leave-one-out needs the float32 query rows passed as the queries.
   */
  static async fromEncoded(src: { ids: string[]; fingerprint: Fingerprint; vectors: EncodedVectors; rows?: RowReader }, opts: ExactIndexOptions = {}): Promise<ExactIndex> {
    const vectors = checkEncodedVectors(src.vectors);
    if (opts.vectors !== undefined) checkEncoding(expectOneOf("vectors", opts.vectors, ENCODINGS), vectors);
    const metric = opts.metric ?? "cosine";
    if (metric !== "cosine") throw invalidOption("metric", `cosine (encoded ${vectors.encoding} rows are L2-normalised codes)`, metric);
    const refine = checkRefine(opts.refine);
    const { dim: d, count: n, encoding } = vectors;
    if (src.ids.length !== n) throw invalidOption("ids", `${n} (one per encoded row)`, src.ids.length);
    const rows = src.rows;
    if (refine > 1 && !rows && encoding !== "f32")
      throw new CbirError("E_BAD_OPTION", `refine needs the float32 rows of the ${encoding} vectors.`, { fix: "pass rows: a reader of the stored float32 vectors, or refine: 1." });
    const read = rows ? (r: Int32Array) => then(rows(r), (raw) => (raw.length === r.length * d ? normaliseRows(raw, r.length, d) : raw)) : (r: Int32Array) => decodeRows(vectors, r);
    const kernel = expectOneOf("kernel", opts.kernel ?? "auto", KERNELS);
    if (encoding === "f32") {
      // the codes are the prepared rows themselves: today's kernels, every search path
      const data = vectors.codes as Float32Array;
      const db: FeatureMatrix = { ids: src.ids, dim: d, data, fingerprint: src.fingerprint };
      const useOrt = kernel === "onnx" || (kernel === "auto" && data.length > AUTO_ONNX_VALUES);
      const ort = useOrt ? await OnnxDotProduct.create(d, { threads: opts.threads }) : undefined;
      return new ExactIndex(db, "cosine", { data }, 1, opts.labels, ort, undefined, "f32", refine);
    }
    if (kernel === "js") throw invalidOption("kernel", `"auto" or "onnx" (${encoding} vectors are scored on ONNX Runtime)`, kernel);
    // no float32 rows in memory: the kernel holds the codes, RowStats.read the rest
    const db: FeatureMatrix = { ids: src.ids, dim: d, data: new Float32Array(0), fingerprint: src.fingerprint };
    const coded = new EncodedDotKernel(encoding, { threads: opts.threads });
    coded.adopt(db.data, vectors);
    return new ExactIndex(db, "cosine", { data: db.data, read }, 1, opts.labels, undefined, coded, encoding, refine);
  }

  get kernel(): "js" | "onnx" {
    return this.ort || this.coded ? "onnx" : "js";
  }

  /** The kernel under the blocked loop: the f16 / i8 codes, ONNX Runtime's Gemm when a session is open, else the JS loop. */
  private kernelOf(): DotKernel {
    return this.coded ?? (this.ort ? onnxDotKernel(this.ort) : jsDotKernel());
  }

  /** The database's float32 rows are in memory (not only codes, as from a store). */
  private get rowsHeld(): boolean {
    return this.prepared.read === undefined;
  }

  /** The database rows expanded with their own top n (itself excluded), cached per setting. */
  private async augmentedDb(self: ScoreInput, n: number, alpha: number, batch: number, progress: (done: number) => void): Promise<FeatureMatrix> {
    const key = `${n}:${alpha}`;
    const hit = this.augmented.get(key);
    if (hit) {
      progress(this.db.ids.length);
      return hit;
    }
    const out = await augmentDatabaseRows(this.db, self, this.kernelOf(), batch, n, alpha, progress, this.refine);
    this.augmented.set(key, out);
    return out;
  }

  /** Ranks `queries` (same fingerprint as the database) against it. */
  async search(queries: FeatureMatrix, opts: SearchOptions = {}): Promise<Ranking[]> {
    const db = this.db;
    if (queries !== db) assertSameFingerprint(db.fingerprint, queries.fingerprint);
    const k = checkK(opts.k);
    const batch = checkBatch(opts.batch);
    const expansion = expansionOptions(opts);
    const { n: qe, alpha } = expansion;
    const loo = Boolean(opts.leaveOneOut);
    if (loo && queries.ids.length !== db.ids.length) throw invalidOption("leaveOneOut", "queries that are the database itself", queries.ids.length);
    if (queries.data.length !== queries.ids.length * db.dim)
      throw invalidOption("queries", `${queries.ids.length} float32 rows of ${db.dim}${this.rowsHeld ? "" : " (this index holds codes only: pass the query vectors)"}`, `${queries.data.length} values`);
    const rep = reporterOf(opts.reporter);
    if (qe > 0 && expansion.augment && !loo && !this.rowsHeld) {
      expansion.augment = false;
      rep.info(`query expansion without database-side augmentation: the index holds ${this.encoding} codes, and augmenting would read every float32 row; pass augmentDatabase: false to silence this`);
    }
    if (qe > 0 && expansion.augment && !loo && db.ids.length > AUGMENT_MAX_ROWS && !this.augmented.has(`${qe}:${alpha}`)) {
      expansion.augment = false;
      rep.info(`query expansion without database-side augmentation: ${db.ids.length} rows are more than ${AUGMENT_MAX_ROWS} (it needs an all-pairs pass); pass augmentDatabase: false to silence this`);
    }
    return rankBlocked(db, queries, {
      metric: this.metric,
      k,
      batch,
      kernel: this.kernelOf(),
      refine: this.refine,
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
    await this.ort?.dispose();
    await this.coded?.dispose();
  }
}

export type FastRankOptions = RankOptions & { kernel?: Kernel; threads?: number; vectors?: Encoding; refine?: number };

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
