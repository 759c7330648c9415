/** cosine: a·b on L2-normalised rows (the kernel's dots are the scores). Higher is better. */
import { rowSquaredNorms } from "../kernel";
import type { RowStats, VectorMetric } from "./types";

export const cosine = {
  name: "cosine",
  higherIsBetter: true,
  onFeatures: true,
  describe: "a·b of L2-normalised vectors",
  prepare(data: Float32Array, n: number, d: number): RowStats {
    const sq = rowSquaredNorms(data, n, d);
    const out = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const inv = sq[i] > 0 ? 1 / Math.sqrt(sq[i]) : 0;
      for (let k = 0; k < d; k++) out[i * d + k] = data[i * d + k] * inv;
    }
    return { data: out };
  },
  finish(): void {},
  // alpha-QE: a large n cannot drag the query towards weak neighbours
  expansionWeight: (score: number, alpha: number) => Math.pow(Math.max(0, score), alpha),
  usearch: { kind: "cos", score: (distance: number) => 1 - distance },
} as const satisfies VectorMetric;
