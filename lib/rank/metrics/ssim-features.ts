/**
 * ssim-features: SSIM with global statistics of two 1-D vectors,
 *   (2 μa μb + C1)(2 σab + C2) / ((μa² + μb² + C1)(σa² + σb² + C2)),
 *   σab = a·b / d - μa μb, C1 = (0.01 L)², C2 = (0.03 L)², L the database's value range.
 * Higher is better. ssim-over-euclidean divides the same value by the L2 distance.
 */
import type { RowStats, ScoreContext, VectorMetric } from "./types";
import { withSquaredNorms } from "./squared-distance";

/** The rows, their squared norms, means and variances. */
export function withMoments(data: Float32Array, n: number, d: number): RowStats {
  const stats = withSquaredNorms(data, n, d);
  stats.mean = new Float64Array(n);
  stats.variance = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += data[i * d + k];
    const mu = s / d;
    stats.mean[i] = mu;
    stats.variance[i] = Math.max(0, stats.sqnorm![i] / d - mu * mu);
  }
  return stats;
}

/** SSIM scores of a block of dots, in place; divided by (L2 distance + 1e-8) when `overEuclidean`. */
export function finishSsim(ctx: ScoreContext, dots: Float32Array, qStart: number, nQ: number, nDb: number, overEuclidean: boolean): void {
  const { q, db, d } = ctx;
  const qn = q.sqnorm!;
  const dn = db.sqnorm!;
  const C1 = (0.01 * ctx.range) ** 2;
  const C2 = (0.03 * ctx.range) ** 2;
  for (let i = 0; i < nQ; i++) {
    const qi = qStart + i;
    const o = i * nDb;
    for (let j = 0; j < nDb; j++) {
      const dot = dots[o + j];
      const ma = q.mean![qi];
      const mb = db.mean![j];
      const cov = dot / d - ma * mb;
      const s = ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (q.variance![qi] + db.variance![j] + C2));
      dots[o + j] = overEuclidean ? s / (Math.sqrt(Math.max(0, qn[qi] + dn[j] - 2 * dot)) + 1e-8) : s;
    }
  }
}

export const ssimFeatures = {
  name: "ssim-features",
  higherIsBetter: true,
  onFeatures: true,
  describe: "SSIM of the vectors' global statistics",
  prepare: withMoments,
  finish: (ctx: ScoreContext, dots: Float32Array, qStart: number, nQ: number, nDb: number) => finishSsim(ctx, dots, qStart, nQ, nDb, false),
} as const satisfies VectorMetric;

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
