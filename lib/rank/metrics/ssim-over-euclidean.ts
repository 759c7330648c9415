/** ssim-over-euclidean: ssim-features / (euclidean + 1e-8), similar and close at once. Higher is better. */
import { finishSsim, withMoments } from "./ssim-features";
import type { ScoreContext, VectorMetric } from "./types";

export const ssimOverEuclidean = {
  name: "ssim-over-euclidean",
  higherIsBetter: true,
  onFeatures: true,
  describe: "ssim-features divided by the L2 distance",
  prepare: withMoments,
  finish: (ctx: ScoreContext, dots: Float32Array, qStart: number, nQ: number, nDb: number) => finishSsim(ctx, dots, qStart, nQ, nDb, true),
} as const satisfies VectorMetric;
