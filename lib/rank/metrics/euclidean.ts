/** euclidean: sqrt(|a|² + |b|² - 2 a·b). Lower is better. */
import { finishSquaredDistances, withSquaredNorms } from "./squared-distance";
import type { ScoreContext, VectorMetric } from "./types";

export const euclidean = {
  name: "euclidean",
  higherIsBetter: false,
  onFeatures: true,
  describe: "L2 distance",
  prepare: withSquaredNorms,
  finish(ctx: ScoreContext, dots: Float32Array, qStart: number, nQ: number, nDb: number): void {
    finishSquaredDistances(ctx, dots, qStart, nQ, nDb, "sqrt");
  },
  usearch: { kind: "l2sq", score: (distance: number) => Math.sqrt(Math.max(0, distance)) },
} as const satisfies VectorMetric;
