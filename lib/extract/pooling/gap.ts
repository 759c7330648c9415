/** "gap": global average pooling, the mean of each channel over the spatial positions (Float64 sums). */
import { positionsAndChannels, type PoolingMethod } from "./types";

export const gap = {
  name: "gap",
  outputDim: (shape: readonly number[]) => shape[shape.length - 1],
  pool(out: Float32Array, n: number, shape: readonly number[]): Float32Array {
    const { positions, channels: c } = positionsAndChannels(shape);
    const res = new Float32Array(n * c);
    const acc = new Float64Array(c);
    for (let i = 0; i < n; i++) {
      const base = i * positions * c;
      acc.fill(0);
      for (let s = 0; s < positions; s++) {
        const off = base + s * c;
        for (let j = 0; j < c; j++) acc[j] += out[off + j];
      }
      for (let j = 0; j < c; j++) res[i * c + j] = acc[j] / positions;
    }
    return res;
  },
} as const satisfies PoolingMethod;
