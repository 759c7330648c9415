/** The pooling contract, apart from the registry so that each pooling file can import it without a cycle. */
export interface PoolOptions {
  /** GeM exponent, default 3 (the usual value in image retrieval), any number >= 1. */
  gemP?: number;
}

export interface PoolingMethod {
  readonly name: string;
  /** Length of one pooled vector for a per-image shape of rank >= 2 (validated by the caller). */
  outputDim(shape: readonly number[]): number;
  /** Pools `n` images of `out` (n x product(shape) values); returns n x outputDim(shape) values. */
  pool(out: Float32Array, n: number, shape: readonly number[], opts: PoolOptions): Float32Array;
}

/** Number of spatial positions and of channels of a channels-last shape. */
export function positionsAndChannels(shape: readonly number[]): { positions: number; channels: number } {
  const channels = shape[shape.length - 1];
  return { positions: shape.reduce((a, b) => a * b, 1) / channels, channels };
}
