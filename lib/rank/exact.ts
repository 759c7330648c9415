/**
 * The exact search engine: every query against every database row through the blocked all-pairs loop
 * (blocked.ts), the re-ranking step of query expansion and DBA (rerank.ts), then a top-k per query.
 *
 * The dot products are a strategy (`kernel`): "js", the register-blocked JS loop (kernel.ts); "onnx", ONNX
 * Runtime's Gemm in batches of queries; "auto" picks ONNX Runtime once the work is large enough to repay
 * building a session. Both give the same rankings and tie order. Measured on 2 shared cores
 * (bench/rank-kernels.ts, 100,000 x 1,280): one query 47 ms on ONNX Runtime vs 268 ms in JS and 174 ms on
 * tfjs-wasm; a batch of 64 queries 218 ms (ORT) vs 6.8 s (JS) and 6.3 s (tfjs-wasm).
 *
 * `exactSearch(db, queries | "loo", opts)` is one search; `ExactIndex` keeps the prepared database and the
 * session, so repeated queries pay only the search. Leave-one-out ("loo", or `leaveOneOut` on an index):
 * the queries are the database's rows and query i skips row i (blocked.ts ownRow).
 *
 * Vector encodings (option `vectors`): "f32" is the above. "f16" and "i8" score codes of the prepared rows
 * on ONNX Runtime (encoded-kernel.ts) inside the same loop, with optional refine (re-score the best r x k
 * by exact float32 dots). `ExactIndex.fromEncoded` searches codes a store holds, reading float32 rows only
 * for refine and query expansion. ssim-image compares pixels, not vectors: image-ssim-search.ts.
 */
import { assertSameFingerprint, type Fingerprint } from "../fingerprint";
import { CbirError, expectOneOf, invalidOption } from "../errors";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix, Ranking } from "../types";
import { checkBatch, checkK, forEachScoreRow, jsDotKernel, onnxDotKernel, ownRow, prepareSearch, refinePass, then, toRanking, type DotKernel, type MaybePromise, type ScoreInput } from "./blocked";
import { EncodedDotKernel, checkEncodedMetric } from "./encoded-kernel";
import { normaliseRows, type RowReader } from "./encoded-search";
import { ENCODINGS, checkEncodedVectors, checkEncoding, decodeRows, type Encoding, type EncodedVectors } from "./encoding";
import { rankByImageSsim } from "./image-ssim-search";
import { checkMetric, dataRange, vectorMetric, type Metric, type RowStats, type VectorMetric } from "./metrics/index";
import { OnnxDotProduct } from "./onnx-gemm";
import { augmentDatabaseRows, expansionOptions, rankingWork, rerankInput } from "./rerank";
import type { SsimOptions } from "./structural-similarity";
import { topK } from "./topk";

export const KERNELS = ["auto", "js", "onnx"] as const;
export type Kernel = (typeof KERNELS)[number];

export interface ExactIndexOptions {
  /** Default "cosine"; any vector metric (ssim-image only through exactSearch). */
  metric?: Metric;
  /** Default "auto": ONNX Runtime for databases of more than 2,000,000 values (rows x dim), else the JS kernel. */
  kernel?: Kernel;
  /** ONNX Runtime intra-op threads (default 1). */
  threads?: number;
  /** id -> label, copied into hits (and, leave-one-out, into the queries). */
  labels?: Map<string, string>;
  /** SSIM value range L for ssim-features (default: max - min of the database). */
  ssimRange?: number;
  /**
   * Encoding of the search rows (default "f32": today's kernels and bit-identical rankings). "f16" / "i8"
   * encode the prepared rows once and score the codes on ONNX Runtime (any vector metric; i8's scale and
   * offset are fitted on the prepared rows); `kernel` must then be "auto" or "onnx".
   */
  vectors?: Encoding;
  /** Re-score the best refine x k candidates with float32 rows (default 1 = off). */
  refine?: number;
}

export interface SearchOptions {
  /** Hits per query; Infinity for the full ranking. Default 10. */
  k?: number;
  /**
   * Query expansion: re-query with the query plus its top n hits (0 = off), weighted by the metric's
   * expansionWeight (cosine: similarity to the power queryExpansionAlpha, alpha-QE), see rerank.ts.
   */
  queryExpansion?: number;
  /** Exponent of the similarity weights of query expansion (default 1; 0 = plain mean). */
  queryExpansionAlpha?: number;
  /** With query expansion, expand the database rows the same way (DBA, rerank.ts). Default true. */
  augmentDatabase?: boolean;
  /** Labels of the queries when they are known (external-query evaluation). */
  queryLabels?: Map<string, string>;
  /** Query i skips database row i (leave-one-out; the queries must be the database's rows). */
  leaveOneOut?: boolean;
  /** Queries per kernel call (default 64). */
  batch?: number;
  /**
   * Sees every query's full score row over the database (the final pass, query expansion applied) before
   * it is dropped, for statistics over the full ranking (average precision) that no top-k list holds.
   * The row is only valid during the call.
   */
  onRow?: (queryIndex: number, scores: Float32Array) => void;
  reporter?: Reporter;
}

/** exactSearch's options: the index's and the search's, plus the pixel shape for ssim-image. */
export type ExactSearchOptions = ExactIndexOptions &
  Omit<SearchOptions, "leaveOneOut"> & {
    /** ssim-image: rows are pixel bytes of images of this shape. */
    image?: { width: number; height: number; channels: 1 | 3 | 4 };
    ssim?: SsimOptions;
  };

/** The refine option: an integer >= 1, 1 = off. */
export function checkRefine(refine: number | undefined): number {
  const r = refine ?? 1;
  if (!Number.isInteger(r) || r < 1) throw invalidOption("refine", "integer >= 1 (1 = off)", refine);
  return r;
}

/**
 * Database rows above which external queries skip database-side augmentation: it needs every row's own
 * top n once (an all-pairs pass, about 10 s for 10,000 x 1,280 on 2 cores, quadratic beyond).
 */
export const AUGMENT_MAX_ROWS = 20000;

/** Database size (rows x dim) above which "auto" builds an ONNX Runtime session. */
const AUTO_ONNX_VALUES = 2e6;

function wantsOnnx(kernel: Kernel, values: number): boolean {
  return kernel === "onnx" || (kernel === "auto" && values > AUTO_ONNX_VALUES);
}

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
    const metric = checkMetric(opts.metric ?? "cosine");
    const vectors = expectOneOf("vectors", opts.vectors ?? "f32", ENCODINGS);
    checkEncodedMetric(metric, vectors);
    const scoring = ExactIndex.vectorMetricOf(metric);
    const kernel = expectOneOf("kernel", opts.kernel ?? "auto", KERNELS);
    const refine = checkRefine(opts.refine);
    const prepared = scoring.prepare(db.data, db.ids.length, db.dim);
    const range = opts.ssimRange ?? dataRange(db.data);
    if (vectors !== "f32") {
      if (kernel === "js") throw invalidOption("kernel", `"auto" or "onnx" (${vectors} vectors are scored on ONNX Runtime)`, kernel);
      const coded = new EncodedDotKernel(vectors, { threads: opts.threads });
      return new ExactIndex(db, scoring, prepared, range, opts.labels, undefined, coded, vectors, refine);
    }
    const ort = wantsOnnx(kernel, db.data.length) ? await OnnxDotProduct.create(db.dim, { threads: opts.threads }) : undefined;
    return new ExactIndex(db, scoring, prepared, range, opts.labels, ort, undefined, "f32", refine);
  }

  private static vectorMetricOf(metric: Metric): VectorMetric {
    if (metric === "ssim-image") throw invalidOption("metric", "a vector metric (ssim-image compares pixels: exactSearch ranks by it)", metric);
    return vectorMetric(metric);
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
    const cosine = vectorMetric("cosine");
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
      const ort = wantsOnnx(kernel, data.length) ? await OnnxDotProduct.create(d, { threads: opts.threads }) : undefined;
      return new ExactIndex(db, cosine, { data }, 1, opts.labels, ort, undefined, "f32", refine);
    }
    if (kernel === "js") throw invalidOption("kernel", `"auto" or "onnx" (${encoding} vectors are scored on ONNX Runtime)`, kernel);
    // no float32 rows in memory: the kernel holds the codes, RowStats.read the rest
    const db: FeatureMatrix = { ids: src.ids, dim: d, data: new Float32Array(0), fingerprint: src.fingerprint };
    const coded = new EncodedDotKernel(encoding, { threads: opts.threads });
    coded.adopt(db.data, vectors);
    return new ExactIndex(db, cosine, { data: db.data, read }, 1, opts.labels, undefined, coded, encoding, refine);
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
  private augmentedDb(self: ScoreInput, n: number, alpha: number, batch: number, progress: (done: number) => void): MaybePromise<FeatureMatrix> {
    const key = `${n}:${alpha}`;
    const hit = this.augmented.get(key);
    if (hit) {
      progress(this.db.ids.length);
      return hit;
    }
    return then(augmentDatabaseRows(this.db, self, this.kernelOf(), batch, n, alpha, progress, this.refine), (out) => {
      this.augmented.set(key, out);
      return out;
    });
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
    const { metric, refine } = this;
    const kernel = this.kernelOf();
    const hib = metric.higherIsBetter;
    const nQ = queries.ids.length;
    const total = rankingWork(nQ, db.ids.length, qe, expansion.augment, loo);
    const report = (offset: number) => (done: number) => rep.progress("rank", offset + done, total);
    const first = prepareSearch(db, queries, metric, this.range, this.prepared);
    const input = rerankInput(db, queries, first, {
      kernel,
      batch,
      refine,
      leaveOneOut: loo,
      expansion,
      augmentedDb: (self, progress) => this.augmentedDb(self, qe, alpha, batch, progress),
      progress: report(0),
    });
    const qLabels = loo ? this.labels : opts.queryLabels;
    const out: Ranking[] = new Array(nQ);
    // synchronous on the JS kernel over rows in memory, awaited otherwise
    return then(input, (final) => {
      const pass = forEachScoreRow(
        final,
        kernel,
        batch,
        (qi, s) => {
          out[qi] = toRanking(queries.ids[qi], topK(s, k, hib, ownRow(loo, qi)), s, db.ids, metric.name as Metric, this.labels, qLabels?.get(queries.ids[qi]));
          opts.onRow?.(qi, s);
        },
        report(total - nQ),
        refinePass(refine, k, loo),
      );
      return then(pass, () => out);
    });
  }

  async dispose(): Promise<void> {
    await this.ort?.dispose();
    await this.coded?.dispose();
  }
}

/**
 * One exact search: `queries` against `db` (same fingerprint), or "loo" for every database row against
 * all the others (leave-one-out). The kernel is a strategy (see the header); every kernel and encoding
 * gives the same Ranking shape, and f32 on any kernel the same rankings.
 */
export async function exactSearch(db: FeatureMatrix, queries: FeatureMatrix | "loo", opts: ExactSearchOptions = {}): Promise<Ranking[]> {
  const loo = queries === "loo";
  const q = loo ? db : queries;
  if (!loo) assertSameFingerprint(db.fingerprint, q.fingerprint);
  const metric = checkMetric(opts.metric ?? "cosine");
  if (metric === "ssim-image") {
    checkEncodedMetric(metric, expectOneOf("vectors", opts.vectors ?? "f32", ENCODINGS));
    return rankByImageSsim(db, q, { ...opts, k: checkK(opts.k), leaveOneOut: loo });
  }
  const index = await ExactIndex.create(db, opts);
  try {
    return await index.search(q, { ...opts, leaveOneOut: loo });
  } finally {
    await index.dispose();
  }
}
