/**
 * dhash: the Hamming distance of 0/1 dHash bit vectors, which equals their squared L2 distance (rounded:
 * the dots of 0/1 rows are integers). Lower is better. Meaningful on dHash bits only, not on features.
 */
import { finishSquaredDistances, withSquaredNorms } from "./squared-distance";
import type { ScoreContext, VectorMetric } from "./types";

export const dhash = {
  name: "dhash",
  higherIsBetter: false,
  onFeatures: false,
  describe: "Hamming distance of dHash bit vectors",
  prepare: withSquaredNorms,
  finish(ctx: ScoreContext, dots: Float32Array, qStart: number, nQ: number, nDb: number): void {
    finishSquaredDistances(ctx, dots, qStart, nQ, nDb, "round");
  },
  // squared L2 on 0/1 values is the Hamming distance
  usearch: { kind: "l2sq", score: (distance: number) => distance },
} as const satisfies VectorMetric;
