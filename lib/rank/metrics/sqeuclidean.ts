/** sqeuclidean: |a|² + |b|² - 2 a·b. Lower is better. */
import { finishSquaredDistances, withSquaredNorms } from "./squared-distance";
import type { ScoreContext, VectorMetric } from "./types";

export const sqeuclidean = {
  name: "sqeuclidean",
  higherIsBetter: false,
  onFeatures: true,
  describe: "squared L2 distance",
  prepare: withSquaredNorms,
  finish(ctx: ScoreContext, dots: Float32Array, qStart: number, nQ: number, nDb: number): void {
    finishSquaredDistances(ctx, dots, qStart, nQ, nDb, "squared");
  },
  usearch: { kind: "l2sq", score: (distance: number) => distance },
} as const satisfies VectorMetric;
