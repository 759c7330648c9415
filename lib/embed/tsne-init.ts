/**
 * Starting layouts for t-SNE, both deterministic for a given seed: the first two principal components
 * (scikit-learn's default since 1.2) or small Gaussian noise. Both are scaled so that the first
 * coordinate has standard deviation 1e-4, as scikit-learn does, so the learning rate means the same.
 */

import type { Fingerprint } from "../fingerprint";
import { gaussian, seededRandom } from "../random";
import { symmetricEigen } from "../reduce/eigen";
import { fitPca } from "../reduce/pca";
import { OP } from "./tsne-kernels";
import type { Steps, TsneExecutor } from "./tsne-pool";

export { gaussian, seededRandom };

export function randomInit(n: number, seed: number): Float64Array {
  const g = gaussian(seededRandom(seed));
  const y = new Float64Array(n * 2);
  for (let i = 0; i < y.length; i++) y[i] = g() * 1e-4;
  return y;
}

/**
 * Projection on the two leading principal components, by reduce/'s exact PCA (fitPca: the eigenvectors of
 * the smaller of the covariance and Gram matrices, the largest loading of each axis positive). For the
 * exact path's small collections; its cost grows with min(n, dim)^3, so the Barnes-Hut path uses pcaSteps.
 * Rows that are all alike give the all-zero layout, as pcaSteps does. The seed is not needed (no random start).
 */
export function pcaInit(data: Float32Array, n: number, dim: number): Float64Array {
  const y = new Float64Array(n * 2);
  if (n < 2 || !varies(data, n, dim)) return y;
  const ids = Array.from({ length: n }, (_, i) => String(i));
  const state = fitPca({ ids, dim, data, fingerprint: UNUSED_FINGERPRINT }, { dims: 2 });
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < state.dims; c++) {
      let acc = 0;
      for (let k = 0; k < dim; k++) acc += (data[i * dim + k] - state.mean[k]) * state.components[c * dim + k];
      y[i * 2 + c] = acc;
    }
  }
  return scaleToStd(y, n, 1e-4);
}

/** fitPca reads only ids, dim and data; the fingerprint matters to applyPca, which is not called. */
const UNUSED_FINGERPRINT = { id: "", parts: undefined } as unknown as Fingerprint;

function varies(data: Float32Array, n: number, dim: number): boolean {
  for (let i = 1; i < n; i++) for (let k = 0; k < dim; k++) if (data[i * dim + k] !== data[k]) return true;
  return false;
}

/**
 * The two leading principal components by subspace iteration on the implicit covariance (X - mean)^T (X - mean):
 * no d x d matrix is formed, so 5,000 x 1,280 costs nine passes over the data. A block of 6 vectors converges
 * on the leading 2 in a few iterations even when the spectrum is flat; the block is ordered with reduce/'s
 * symmetricEigen and signs are fixed as fitPca fixes them (the largest loading positive). As steps
 * (tsne-pool.ts), so the passes may run on worker threads. Rows are read from `matrix` with row stride `stride` (the padded copy
 * of the SIMD kernel, or the input itself). Each pass runs in row chunks (tsnePcaRows) whose partial sums
 * are added here in chunk order, so the result does not depend on the thread count.
 */
export function* pcaSteps(exec: TsneExecutor, matrix: Float32Array, stride: number, n: number, dim: number, seed: number): Steps<Float64Array> {
  const y = new Float64Array(n * 2);
  if (n < 2) return y;
  const mean = exec.f64(dim);
  for (let i = 0; i < n; i++) for (let k = 0, o = i * stride; k < dim; k++) mean[k] += matrix[o + k];
  for (let k = 0; k < dim; k++) mean[k] /= n;

  const b = Math.min(6, dim);
  const g = gaussian(seededRandom(seed ^ 0x9e3779b9));
  let V: Float64Array[] = Array.from({ length: b }, () => Float64Array.from({ length: dim }, () => g()));
  orthonormalize(V);
  const shared = exec.f64(b * dim);
  const XV = exec.f64(b * n);
  const chunkRows = Math.max(PCA_MIN_CHUNK_ROWS, Math.ceil(n / PCA_MAX_CHUNKS));
  const chunks = Math.ceil(n / chunkRows);
  const partial = exec.f64(chunks * b * dim);
  exec.bind({ n, dim, stride, matrix, mean, V: shared, pcaB: b, XV, pcaChunkRows: chunkRows, partial, accumulate: 1 });
  for (let iter = 0; iter < 8; iter++) {
    V.forEach((v, c) => shared.set(v, c * dim));
    yield OP.pca;
    const next = Array.from({ length: b }, () => new Float64Array(dim));
    for (let q = 0; q < chunks; q++) {
      for (let c = 0; c < b; c++) {
        const out = next[c];
        const p = (q * b + c) * dim;
        for (let u = 0; u < dim; u++) out[u] += partial[p + u];
      }
    }
    V = next;
    orthonormalize(V);
  }
  V.forEach((v, c) => shared.set(v, c * dim));
  exec.bind({ accumulate: 0 });
  yield OP.pca;
  const column = (c: number) => XV.subarray(c * n, (c + 1) * n);
  // Rayleigh-Ritz: eigenvectors of the small b x b matrix (XV)^T (XV) order the block by variance.
  const B = Array.from({ length: b }, (_, r) => Array.from({ length: b }, (_, c) => dot(column(r), column(c))));
  const { vectors } = symmetricEigen(B.map((row) => Float64Array.from(row)));
  for (let comp = 0; comp < 2; comp++) {
    const coef = vectors[comp] ?? new Float64Array(b);
    const col = new Float64Array(n);
    for (let c = 0; c < b; c++) {
      const xv = column(c);
      for (let i = 0; i < n; i++) col[i] += coef[c] * xv[i];
    }
    // svd_flip-like sign: the loading with the largest magnitude is positive.
    const loading = new Float64Array(dim);
    for (let c = 0; c < b; c++) for (let k = 0; k < dim; k++) loading[k] += coef[c] * V[c][k];
    let big = 0;
    for (let k = 0; k < dim; k++) if (Math.abs(loading[k]) > Math.abs(big)) big = loading[k];
    const sign = big < 0 ? -1 : 1;
    for (let i = 0; i < n; i++) y[i * 2 + comp] = sign * col[i];
  }
  return scaleToStd(y, n, 1e-4);
}

/** Row chunks of a PCA pass: at least this many rows, and at most this many chunks (bounded partial sums). */
const PCA_MIN_CHUNK_ROWS = 128;
const PCA_MAX_CHUNKS = 64;

/** Scales both coordinates so that the first has standard deviation `target` (scikit-learn's rule). */
export function scaleToStd(y: Float64Array, n: number, target: number): Float64Array {
  let m = 0;
  for (let i = 0; i < n; i++) m += y[i * 2];
  m /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (y[i * 2] - m) ** 2;
  const std = Math.sqrt(v / n);
  const f = std > 0 ? target / std : 0;
  for (let i = 0; i < y.length; i++) y[i] *= f;
  return y;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Modified Gram-Schmidt; a vector that collapses (rank-deficient data) is left at zero. */
function orthonormalize(V: Float64Array[]): void {
  for (let c = 0; c < V.length; c++) {
    const v = V[c];
    for (let p = 0; p < c; p++) {
      const d = dot(v, V[p]);
      for (let k = 0; k < v.length; k++) v[k] -= d * V[p][k];
    }
    const norm = Math.sqrt(dot(v, v));
    if (norm > 1e-300) for (let k = 0; k < v.length; k++) v[k] /= norm;
    else v.fill(0);
  }
}
