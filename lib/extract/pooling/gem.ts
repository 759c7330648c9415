/**
 * "gem": generalised mean pooling, (mean x^p)^(1/p) per channel, between GAP (p = 1) and GMP (p -> infinity).
 * The exponent is PoolOptions.gemP (config gemP, CLI --gem-p).
 */
import { invalidOption } from "../../errors";
import { positionsAndChannels, type PoolingMethod, type PoolOptions } from "./types";

/** GeM clamps activations to this before the power, so negative or zero values cannot give NaN. */
export const GEM_EPS = 1e-6;
/** Used when no exponent is given (the usual value in image retrieval; the pipeline's default is config gemP). */
export const GEM_DEFAULT_P = 3;

export const gem = {
  name: "gem",
  outputDim: (shape: readonly number[]) => shape[shape.length - 1],
  pool(out: Float32Array, n: number, shape: readonly number[], opts: PoolOptions): Float32Array {
    const p = opts.gemP ?? GEM_DEFAULT_P;
    if (!Number.isFinite(p) || p < 1) throw invalidOption("gemP", "number >= 1", opts.gemP);
    const { positions, channels: c } = positionsAndChannels(shape);
    const res = new Float32Array(n * c);
    const acc = new Float64Array(c);
    for (let i = 0; i < n; i++) {
      const base = i * positions * c;
      acc.fill(0);
      for (let s = 0; s < positions; s++) {
        const off = base + s * c;
        for (let j = 0; j < c; j++) acc[j] += Math.pow(Math.max(out[off + j], GEM_EPS), p);
      }
      for (let j = 0; j < c; j++) res[i * c + j] = Math.pow(acc[j] / positions, 1 / p);
    }
    return res;
  },
} as const satisfies PoolingMethod;
