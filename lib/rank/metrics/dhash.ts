/**
 * dhash: the Hamming distance of 0/1 dHash bit vectors, which equals their squared L2 distance (rounded:
 * the dots of 0/1 rows are integers). Lower is better. Meaningful on dHash bits only, not on features.
 */
import { withSquaredNorms } from "./squared-distance";
import type { ScoreContext, VectorMetric } from "./types";

export const dhash = {
  name: "dhash",
  higherIsBetter: false,
  onFeatures: false,
  describe: "Hamming distance of dHash bit vectors",
  prepare: withSquaredNorms,
  finish(ctx: ScoreContext, dots: Float32Array, qStart: number, nQ: number, nDb: number): void {
    const qn = ctx.q.sqnorm!;
    const dn = ctx.db.sqnorm!;
    for (let i = 0; i < nQ; i++) {
      const qi = qStart + i;
      const o = i * nDb;
      for (let j = 0; j < nDb; j++) dots[o + j] = Math.round(Math.max(0, qn[qi] + dn[j] - 2 * dots[o + j]));
    }
  },
  // squared L2 on 0/1 values is the Hamming distance
  usearch: { kind: "l2sq", score: (distance: number) => distance },
} as const satisfies VectorMetric;
