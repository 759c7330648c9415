/** "gmp": global max pooling, the largest value of each channel over the spatial positions. */
import { positionsAndChannels, type PoolingMethod } from "./types";

export const gmp = {
  name: "gmp",
  outputDim: (shape: readonly number[]) => shape[shape.length - 1],
  pool(out: Float32Array, n: number, shape: readonly number[]): Float32Array {
    const { positions, channels: c } = positionsAndChannels(shape);
    const res = new Float32Array(n * c);
    const acc = new Float64Array(c);
    for (let i = 0; i < n; i++) {
      const base = i * positions * c;
      acc.fill(-Infinity);
      for (let s = 0; s < positions; s++) {
        const off = base + s * c;
        for (let j = 0; j < c; j++) {
          const v = out[off + j];
          if (v > acc[j]) acc[j] = v;
        }
      }
      for (let j = 0; j < c; j++) res[i * c + j] = acc[j];
    }
    return res;
  },
} as const satisfies PoolingMethod;
