/** "flatten": every value of the layer output, in order (the original notebooks' choice). */
import type { PoolingMethod } from "./types";

export const flatten = {
  name: "flatten",
  outputDim: (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1),
  pool: (out: Float32Array) => out.slice(),
} as const satisfies PoolingMethod;
