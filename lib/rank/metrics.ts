/**
 * The similarity scores, as a registry. Every feature-vector metric is computed from dot products
 * (the one expensive part, done by a matrix-multiply kernel) plus per-row statistics:
 *   cosine               a·b on L2-normalised rows                               higher is better
 *   euclidean            sqrt(|a|² + |b|² - 2 a·b)                                lower
 *   sqeuclidean          |a|² + |b|² - 2 a·b                                      lower
 *   ssim-features        SSIM with global statistics of two 1-D vectors:          higher
 *                        (2 μa μb + C1)(2 σab + C2) / ((μa² + μb² + C1)(σa² + σb² + C2)),
 *                        σab = a·b / d - μa μb, C1 = (0.01 L)², C2 = (0.03 L)², L the database's value range
 *   ssim-over-euclidean  ssim-features / (euclidean + 1e-8)                       higher
 *   dhash                Hamming distance of 0/1 dHash bit vectors (= sqeuclidean) lower
 *   ssim-image           windowed SSIM of the images themselves (ssim.js), see ssim.ts   higher
 */
import { expectOneOf } from "../errors";
import { rowSquaredNorms } from "./kernel";

export const METRICS = ["cosine", "euclidean", "sqeuclidean", "ssim-features", "ssim-over-euclidean", "ssim-image", "dhash"] as const;
export type Metric = (typeof METRICS)[number];

const HIGHER: Record<Metric, boolean> = {
  cosine: true,
  euclidean: false,
  sqeuclidean: false,
  "ssim-features": true,
  "ssim-over-euclidean": true,
  "ssim-image": true,
  dhash: false,
};

export function higherIsBetter(metric: Metric): boolean {
  return HIGHER[expectOneOf("metric", metric, METRICS)];
}

/** Metrics computed from feature vectors through dot products (all but ssim-image). */
export type VectorMetric = Exclude<Metric, "ssim-image">;

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

export function prepareRows(metric: VectorMetric, data: Float32Array, n: number, d: number): RowStats {
  if (metric === "cosine") {
    const sq = rowSquaredNorms(data, n, d);
    const out = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const inv = sq[i] > 0 ? 1 / Math.sqrt(sq[i]) : 0;
      for (let k = 0; k < d; k++) out[i * d + k] = data[i * d + k] * inv;
    }
    return { data: out };
  }
  const stats: RowStats = { data, sqnorm: rowSquaredNorms(data, n, d) };
  if (metric === "ssim-features" || metric === "ssim-over-euclidean") {
    stats.mean = new Float64Array(n);
    stats.variance = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += data[i * d + k];
      const mu = s / d;
      stats.mean[i] = mu;
      stats.variance[i] = Math.max(0, stats.sqnorm![i] / d - mu * mu);
    }
  }
  return stats;
}

/** max - min over all values: the L of the SSIM constants, fixed per database so scores are comparable. */
export function dataRange(data: Float32Array): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return hi > lo ? hi - lo : 1;
}

export interface ScoreContext {
  metric: VectorMetric;
  d: number;
  q: RowStats;
  db: RowStats;
  /** SSIM value range L. */
  range: number;
}

/** Turns a block of dot products (rows: queries qStart.., columns: db 0..nDb) into scores, in place. */
export function finishScores(ctx: ScoreContext, dots: Float32Array, qStart: number, nQ: number, nDb: number): void {
  const { metric, q, db, d } = ctx;
  if (metric === "cosine") return;
  const qn = q.sqnorm!;
  const dn = db.sqnorm!;
  const C1 = (0.01 * ctx.range) ** 2;
  const C2 = (0.03 * ctx.range) ** 2;
  for (let i = 0; i < nQ; i++) {
    const qi = qStart + i;
    const o = i * nDb;
    for (let j = 0; j < nDb; j++) {
      const dot = dots[o + j];
      const sq = Math.max(0, qn[qi] + dn[j] - 2 * dot);
      if (metric === "sqeuclidean") dots[o + j] = sq;
      else if (metric === "euclidean") dots[o + j] = Math.sqrt(sq);
      else if (metric === "dhash") dots[o + j] = Math.round(sq);
      else {
        const ma = q.mean![qi];
        const mb = db.mean![j];
        const cov = dot / d - ma * mb;
        const s = ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (q.variance![qi] + db.variance![j] + C2));
        dots[o + j] = metric === "ssim-features" ? s : s / (Math.sqrt(sq) + 1e-8);
      }
    }
  }
}

/** The global-statistics SSIM of two vectors, computed directly (reference for tests and single pairs). */
export function vectorSsim(a: ArrayLike<number>, b: ArrayLike<number>, range: number): number {
  const d = a.length;
  let ma = 0, mb = 0;
  for (let k = 0; k < d; k++) {
    ma += a[k];
    mb += b[k];
  }
  ma /= d;
  mb /= d;
  let va = 0, vb = 0, cov = 0;
  for (let k = 0; k < d; k++) {
    va += (a[k] - ma) ** 2;
    vb += (b[k] - mb) ** 2;
    cov += (a[k] - ma) * (b[k] - mb);
  }
  va /= d;
  vb /= d;
  cov /= d;
  const C1 = (0.01 * range) ** 2;
  const C2 = (0.03 * range) ** 2;
  return ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
}
