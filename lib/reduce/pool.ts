/**
 * Turn a cut layer's output (n images of H x W x C, channels last) into one vector per image.
 * "flatten" keeps every value (the originals' choice); "gap" / "gmp" average / take the maximum over the
 * spatial positions; "gem" is generalised mean pooling, (mean x^p)^(1/p), between the two (p = 1 is GAP,
 * p -> infinity is GMP). Rank-1 outputs (dense layers, logits) are already vectors and pass through.
 */
import { expectOneOf, invalidOption } from "../errors";

export const POOLINGS = ["flatten", "gap", "gmp", "gem"] as const;
export type Pooling = (typeof POOLINGS)[number];

export interface PoolOptions {
  /** GeM exponent, default 3 (the usual value in image retrieval), any number >= 1. */
  gemP?: number;
}

/** GeM clamps activations to this before the power, so negative or zero values cannot give NaN. */
const GEM_EPS = 1e-6;

function checkShape(shape: number[]): void {
  if (!Array.isArray(shape) || shape.length === 0 || shape.some((s) => !Number.isInteger(s) || s < 1))
    throw invalidOption("shape", "non-empty array of positive integers", shape);
}

/** Length of one pooled vector. */
export function pooledDim(shape: number[], pooling: Pooling): number {
  checkShape(shape);
  expectOneOf("pooling", pooling, POOLINGS);
  if (shape.length === 1 || pooling === "flatten") return shape.reduce((a, b) => a * b, 1);
  return shape[shape.length - 1];
}

/** Pools `n` images of layer output `out` (shape per image without batch); returns n * pooledDim values. */
export function poolFeatures(out: Float32Array, n: number, shape: number[], pooling: Pooling, opts: PoolOptions = {}): Float32Array {
  checkShape(shape);
  expectOneOf("pooling", pooling, POOLINGS);
  if (!Number.isInteger(n) || n < 0) throw invalidOption("n", "non-negative integer", n);
  const per = shape.reduce((a, b) => a * b, 1);
  if (out.length !== n * per) throw invalidOption("out.length", `${n} x ${per} = ${n * per} values`, out.length);
  if (shape.length === 1 || pooling === "flatten") return out.slice();

  const c = shape[shape.length - 1];
  const positions = per / c;
  const res = new Float32Array(n * c);
  const acc = new Float64Array(c);
  const p = opts.gemP ?? 3;
  if (pooling === "gem" && (!Number.isFinite(p) || p < 1)) throw invalidOption("gemP", "number >= 1", opts.gemP);

  for (let i = 0; i < n; i++) {
    const base = i * per;
    if (pooling === "gmp") acc.fill(-Infinity);
    else acc.fill(0);
    for (let s = 0; s < positions; s++) {
      const off = base + s * c;
      if (pooling === "gap") for (let j = 0; j < c; j++) acc[j] += out[off + j];
      else if (pooling === "gmp")
        for (let j = 0; j < c; j++) {
          const v = out[off + j];
          if (v > acc[j]) acc[j] = v;
        }
      else for (let j = 0; j < c; j++) acc[j] += Math.pow(Math.max(out[off + j], GEM_EPS), p);
    }
    const o = i * c;
    if (pooling === "gap") for (let j = 0; j < c; j++) res[o + j] = acc[j] / positions;
    else if (pooling === "gmp") for (let j = 0; j < c; j++) res[o + j] = acc[j];
    else for (let j = 0; j < c; j++) res[o + j] = Math.pow(acc[j] / positions, 1 / p);
  }
  return res;
}
