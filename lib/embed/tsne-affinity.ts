/**
 * Input affinities for Barnes-Hut t-SNE, computed as scikit-learn does so that the final KL values are
 * comparable: the k = min(n - 1, floor(3 * perplexity + 1)) exact nearest neighbours by squared Euclidean
 * distance, a per-point Gaussian bandwidth found by binary search on the perplexity, then
 * P = (P_cond + P_cond^T) / sum, stored sparse (CSR).
 */

import { createDotMatrix, type DotMatrix } from "../simd/dots";
import { OP, tsneConditionalRow, tsneHeapOffer } from "./tsne-kernels";
import { LocalExecutor, runSteps, type Steps, type TsneExecutor } from "./tsne-pool";

/** Columns per cache tile of the SIMD neighbour search (a multiple of 4): 64 rows of 1,280 floats stay in L2. */
export const TILE = 64;
/** Rows per work item of the affinity pass. */
const AFFINITY_ROWS = 64;

/** Symmetric sparse matrix in compressed-row form. */
export interface SparseP {
  n: number;
  rowStart: Int32Array; // n + 1 entries
  cols: Int32Array;
  vals: Float64Array;
}

export interface Neighbours {
  k: number;
  /** n * k neighbour indices, row i's nearest first. */
  index: Int32Array;
  /** n * k squared distances, matching `index`. */
  dist2: Float64Array;
}

/** Neighbours and conditional probabilities p(j|i), row-major n * k. */
export interface Affinities {
  nb: Neighbours;
  pCond: Float64Array;
}

/**
 * Steps (tsne-pool.ts) computing the exact k nearest neighbours (self excluded) by brute force, then,
 * when a perplexity is given, p(j|i). Each pair is computed once, in the WebAssembly SIMD kernel on `dm`
 * (lib/simd/dots.ts), and offered to both rows' bounded heaps; each thread keeps its own heaps and the
 * affinity pass merges them. Heaps order by (distance, index), so the neighbours, ties included, do not
 * depend on which thread saw which pair. Without SIMD (dm undefined) a JavaScript loop does the pairs.
 */
export function* affinitySteps(
  exec: TsneExecutor,
  dm: DotMatrix | undefined,
  data: Float32Array,
  n: number,
  dim: number,
  k: number,
  perplexity: number | undefined,
  onProgress?: (done: number, total: number) => void,
): Steps<Affinities> {
  const T = exec.threads;
  const norms = exec.f64(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0, o = i * dim; t < dim; t++) s += data[o + t] * data[o + t];
    norms[i] = s;
  }
  const heapD = exec.f64(T * n * k).fill(Infinity);
  const heapI = exec.i32(T * n * k).fill(0x7fffffff);
  const index = exec.i32(n * k);
  const dist2 = exec.f64(n * k);
  const pCond = perplexity === undefined ? new Float64Array(0) : exec.f64(n * k);
  const nTiles = Math.ceil(n / TILE);
  exec.bind({
    n, dim, k, norms, heapD, heapI, tile: TILE, nTiles,
    rowChunk: AFFINITY_ROWS, nbIndex: index, nbDist2: dist2, pCond, desired: Math.log(perplexity ?? 1),
  });
  if (dm) {
    exec.bindDotMatrix(dm);
    exec.setProgress(onProgress ? (claimed) => onProgress(claimed, nTiles) : null);
    yield OP.neighbours;
    exec.setProgress(null);
  } else {
    if (T !== 1) throw new Error("the JavaScript neighbour loop runs on one thread (bug)");
    const pair = (i: number, j: number, dot: number) => {
      const d = Math.max(0, norms[i] + norms[j] - 2 * dot);
      tsneHeapOffer(heapD, heapI, i * k, k, j, d);
      tsneHeapOffer(heapD, heapI, j * k, k, i, d);
    };
    // float64 loads beat float32 conversions in V8
    jsPairs(Float64Array.from(data), n, dim, pair, onProgress ? (done) => onProgress(done, n) : undefined);
  }
  yield OP.affinities;
  return { nb: { k, index, dist2 }, pCond };
}

/** Exact k nearest neighbours (self excluded), nearest first, ties by index; on the calling thread. */
export function nearestNeighbours(data: Float32Array, n: number, dim: number, k: number, onProgress?: (done: number, total: number) => void): Neighbours {
  const exec = new LocalExecutor();
  return runSteps(affinitySteps(exec, createDotMatrix(data, n, dim, TILE / 4), data, n, dim, k, undefined, onProgress), exec).nb;
}

/**
 * Conditional probabilities p(j|i) over each row's neighbours with the bandwidth that gives the wanted
 * perplexity (tsneConditionalRow: binary search on beta, as scikit-learn).
 */
export function conditionalP(nb: Neighbours, n: number, perplexity: number): Float64Array {
  const P = new Float64Array(n * nb.k);
  const desired = Math.log(perplexity);
  for (let i = 0; i < n; i++) tsneConditionalRow(nb.dist2, i * nb.k, nb.k, desired, P);
  return P;
}

/** P = (P_cond + P_cond^T) / sum as a CSR matrix with sorted columns. */
export function symmetrize(nb: Neighbours, Pcond: Float64Array, n: number): SparseP {
  const { k, index } = nb;
  const count = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      count[i + 1]++;
      count[index[i * k + t] + 1]++;
    }
  }
  for (let i = 0; i < n; i++) count[i + 1] += count[i];
  const fill = count.slice(0, n);
  const cols = new Int32Array(count[n]);
  const vals = new Float64Array(count[n]);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const j = index[i * k + t];
      const p = Pcond[i * k + t];
      cols[fill[i]] = j;
      vals[fill[i]++] = p;
      cols[fill[j]] = i;
      vals[fill[j]++] = p;
    }
  }
  // Sort each row by column and merge the duplicates (pairs that are neighbours both ways).
  const rowStart = new Int32Array(n + 1);
  let out = 0;
  let total = 0;
  const idx: number[] = [];
  for (let i = 0; i < n; i++) {
    rowStart[i] = out;
    idx.length = 0;
    for (let e = count[i]; e < count[i + 1]; e++) idx.push(e);
    idx.sort((a, b) => cols[a] - cols[b]);
    const c = idx.map((e) => cols[e]);
    const v = idx.map((e) => vals[e]);
    for (let t = 0; t < c.length; t++) {
      if (t > 0 && c[t] === c[t - 1]) {
        vals[out - 1] += v[t];
      } else {
        cols[out] = c[t];
        vals[out++] = v[t];
      }
      total += v[t];
    }
  }
  rowStart[n] = out;
  const scale = 1 / Math.max(total, Number.EPSILON);
  const v = vals.slice(0, out);
  for (let e = 0; e < out; e++) v[e] *= scale;
  return { n, rowStart, cols: cols.slice(0, out), vals: v };
}

/** The JavaScript fallback: 2 x 2 register-blocked dot products over all pairs i < j. */
function jsPairs(
  X: Float64Array,
  n: number,
  dim: number,
  pair: (i: number, j: number, dot: number) => void,
  onRow?: (done: number) => void,
): void {
  const dot = (oi: number, oj: number) => {
    let a0 = 0, a1 = 0;
    let t = 0;
    for (; t + 1 < dim; t += 2) {
      a0 += X[oi + t] * X[oj + t];
      a1 += X[oi + t + 1] * X[oj + t + 1];
    }
    if (t < dim) a0 += X[oi + t] * X[oj + t];
    return a0 + a1;
  };
  const even = dim - (dim % 2);
  for (let i = 0; i < n; i += 2) {
    const i1 = i + 1;
    const oi = i * dim;
    const oi1 = oi + dim;
    if (i1 < n) pair(i, i1, dot(oi, oi1));
    let j = i + 2;
    if (i1 < n) {
      for (; j + 1 < n; j += 2) {
        const oj = j * dim;
        const oj1 = oj + dim;
        let a = 0, b = 0, c = 0, e = 0, a1 = 0, b1 = 0, c1 = 0, e1 = 0;
        for (let t = 0; t < even; t += 2) {
          const x0 = X[oi + t], x1 = X[oi1 + t], y0 = X[oj + t], y1 = X[oj1 + t];
          a += x0 * y0; b += x0 * y1; c += x1 * y0; e += x1 * y1;
          const u0 = X[oi + t + 1], u1 = X[oi1 + t + 1], v0 = X[oj + t + 1], v1 = X[oj1 + t + 1];
          a1 += u0 * v0; b1 += u0 * v1; c1 += u1 * v0; e1 += u1 * v1;
        }
        if (even < dim) {
          const t = even;
          a += X[oi + t] * X[oj + t]; b += X[oi + t] * X[oj1 + t];
          c += X[oi1 + t] * X[oj + t]; e += X[oi1 + t] * X[oj1 + t];
        }
        pair(i, j, a + a1);
        pair(i, j + 1, b + b1);
        pair(i1, j, c + c1);
        pair(i1, j + 1, e + e1);
      }
    }
    for (; j < n; j++) {
      pair(i, j, dot(oi, j * dim));
      if (i1 < n) pair(i1, j, dot(oi1, j * dim));
    }
    onRow?.(Math.min(n, i + 2));
  }
}
