/**
 * The contract of a feature-vector metric. Every one is computed from dot products (the one expensive
 * part, done by a matrix-multiply kernel: JS, ONNX Runtime, or f16 / i8 codes) plus per-row statistics, so
 * a metric says only how to prepare rows before the kernel and how to turn a block of dots into scores.
 */

/** Per-row statistics a metric needs besides the dot products. */
export interface RowStats {
  /** Rows as the kernel sees them (L2-normalised for cosine, else the input itself). */
  data: Float32Array;
  /**
   * Rows `rows` of `data`, in the order asked, when `data` does not hold them: a database the kernel only
   * has codes of (ExactIndex.fromEncoded) reads its float32 rows on demand, for refine and query expansion.
   */
  read?: (rows: Int32Array) => Float32Array | Promise<Float32Array>;
  sqnorm?: Float64Array;
  mean?: Float64Array;
  variance?: Float64Array;
}

export interface ScoreContext {
  metric: VectorMetric;
  d: number;
  q: RowStats;
  db: RowStats;
  /** SSIM value range L (max - min of the database unless given). */
  range: number;
}

export interface VectorMetric {
  /** The registry key: what `--metric`, PipelineConfig.metric and Ranking.metric say. */
  readonly name: string;
  readonly higherIsBetter: boolean;
  /**
   * The pipeline may rank feature vectors by it (PIPELINE_METRICS, `--metric`); false for a metric that is
   * meaningful only on its own kind of rows (dhash: 0/1 dHash bits).
   */
  readonly onFeatures: boolean;
  /** One line for the docs and `--help`. */
  readonly describe: string;
  /** The rows as the kernel should see them, and the statistics `finish` reads. */
  prepare(data: Float32Array, n: number, d: number): RowStats;
  /**
   * Turns a block of dot products (rows: queries qStart.., columns: database 0..nDb) into scores, in place.
   * Called on candidate lists too (refine), with q / db stats cut to those rows.
   */
  finish(ctx: ScoreContext, dots: Float32Array, qStart: number, nQ: number, nDb: number): void;
  /**
   * Weight of a hit with score `score` in query expansion, given the exponent alpha (alpha-QE). Without
   * it every hit weighs 1 (the plain mean), the safe choice for a score that is not a similarity in [0, 1].
   */
  expansionWeight?(score: number, alpha: number): number;
  /** How the HNSW index (usearch) serves it: its distance kind, and the score from that distance. Without it, exact search only. */
  readonly usearch?: { readonly kind: "cos" | "l2sq"; score(distance: number): number };
}
