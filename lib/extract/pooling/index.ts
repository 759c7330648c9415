/**
 * Poolings: how a cut layer's output (n images of H x W x C, channels last) becomes one vector per image.
 * A pooling is one file plus one line in POOLING_METHODS; the CLI's --pool choices, config validation and
 * the error messages read the registry. registerPooling adds one at run time (a test, a notebook), and
 * config validation and extractFeatures accept it from then on. Rank-1 outputs (dense layers, logits) are
 * already vectors and pass through every pooling.
 */
import { expectOneOf, invalidOption } from "../../errors";
import { flatten } from "./flatten";
import { gap } from "./gap";
import { gem } from "./gem";
import { gmp } from "./gmp";
import type { PoolingMethod, PoolOptions } from "./types";

export type { PoolingMethod, PoolOptions } from "./types";

export const POOLING_METHODS = { flatten, gap, gmp, gem } as const;
export type Pooling = keyof typeof POOLING_METHODS;
/** The built-in poolings, in registry order. */
export const POOLINGS: readonly Pooling[] = Object.freeze(Object.keys(POOLING_METHODS) as Pooling[]);

const registered = new Map<string, PoolingMethod>();

/** Adds a pooling under its name; the built-in names and names already registered are refused. */
export function registerPooling(method: PoolingMethod): void {
  if (!method || typeof method.name !== "string" || !method.name || poolingNames().includes(method.name))
    throw invalidOption("pooling name", `a name other than ${poolingNames().join(", ")}`, method?.name);
  registered.set(method.name, method);
}

/** Every pooling name valid now: the built-ins, then those registered at run time. */
export function poolingNames(): string[] {
  return [...POOLINGS, ...registered.keys()];
}

export function poolingMethod(name: string): PoolingMethod {
  const valid = expectOneOf("pooling", name, poolingNames());
  return (POOLING_METHODS as Record<string, PoolingMethod>)[valid] ?? registered.get(valid)!;
}

function checkShape(shape: readonly number[]): void {
  if (!Array.isArray(shape) || shape.length === 0 || shape.some((s) => !Number.isInteger(s) || s < 1))
    throw invalidOption("shape", "non-empty array of positive integers", shape);
}

/** Length of one pooled vector. */
export function pooledDim(shape: number[], pooling: Pooling): number {
  checkShape(shape);
  const method = poolingMethod(pooling);
  if (shape.length === 1) return shape[0];
  return method.outputDim(shape);
}

/** Pools `n` images of layer output `out` (shape per image without batch); returns n * pooledDim values. */
export function poolFeatures(out: Float32Array, n: number, shape: number[], pooling: Pooling, opts: PoolOptions = {}): Float32Array {
  checkShape(shape);
  const method = poolingMethod(pooling);
  if (!Number.isInteger(n) || n < 0) throw invalidOption("n", "non-negative integer", n);
  const per = shape.reduce((a, b) => a * b, 1);
  if (out.length !== n * per) throw invalidOption("out.length", `${n} x ${per} = ${n * per} values`, out.length);
  if (shape.length === 1) return out.slice();
  return method.pool(out, n, shape, opts);
}
