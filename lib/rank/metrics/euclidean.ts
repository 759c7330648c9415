/** euclidean: sqrt(|a|² + |b|² - 2 a·b). Lower is better. */
import { withSquaredNorms } from "./squared-distance";
import type { ScoreContext, VectorMetric } from "./types";

export const euclidean = {
  name: "euclidean",
  higherIsBetter: false,
  onFeatures: true,
  describe: "L2 distance",
  prepare: withSquaredNorms,
  finish(ctx: ScoreContext, dots: Float32Array, qStart: number, nQ: number, nDb: number): void {
    const qn = ctx.q.sqnorm!;
    const dn = ctx.db.sqnorm!;
    for (let i = 0; i < nQ; i++) {
      const qi = qStart + i;
      const o = i * nDb;
      for (let j = 0; j < nDb; j++) dots[o + j] = Math.sqrt(Math.max(0, qn[qi] + dn[j] - 2 * dots[o + j]));
    }
  },
  usearch: { kind: "l2sq", score: (distance: number) => Math.sqrt(Math.max(0, distance)) },
} as const satisfies VectorMetric;
