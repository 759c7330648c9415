/**
 * Input affinities for Barnes-Hut t-SNE, computed as scikit-learn does so that the final KL values are
 * comparable: the k = min(n - 1, floor(3 * perplexity + 1)) exact nearest neighbours by squared Euclidean
 * distance, a per-point Gaussian bandwidth found by binary search on the perplexity, then
 * P = (P_cond + P_cond^T) / sum, stored sparse (CSR).
 */

import { createDotKernel } from "./simd-dots";

/** Rows per cache tile of the SIMD neighbour search (a multiple of 4). */
const TILE = 64;

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

/**
 * Exact k nearest neighbours (self excluded) by brute force. Each pair is computed once and offered to
 * both rows' bounded max-heaps. Dot products run in the WebAssembly SIMD kernel (simd-dots.ts) when
 * available, else in a 2 x 2 register-blocked JavaScript loop.
 */
export function nearestNeighbours(data: Float32Array, n: number, dim: number, k: number, onRow?: (done: number) => void): Neighbours {
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0, o = i * dim; t < dim; t++) s += data[o + t] * data[o + t];
    norms[i] = s;
  }
  const heapD = new Float64Array(n * k).fill(Infinity);
  const heapI = new Int32Array(n * k).fill(-1);
  const offer = (i: number, j: number, d: number) => {
    const base = i * k;
    if (d >= heapD[base]) return;
    // replace the root (the current worst) and sift down
    let pos = 0;
    for (;;) {
      const l = 2 * pos + 1;
      if (l >= k) break;
      const r = l + 1;
      const c = r < k && heapD[base + r] > heapD[base + l] ? r : l;
      if (heapD[base + c] <= d) break;
      heapD[base + pos] = heapD[base + c];
      heapI[base + pos] = heapI[base + c];
      pos = c;
    }
    heapD[base + pos] = d;
    heapI[base + pos] = j;
  };
  const pair = (i: number, j: number, dotij: number) => {
    const d = Math.max(0, norms[i] + norms[j] - 2 * dotij);
    offer(i, j, d);
    offer(j, i, d);
  };
  const kernel = createDotKernel(data, n, dim, TILE / 4);
  if (kernel) {
    // Tiles of TILE rows stay in cache while every earlier row streams past them.
    for (let jt = 0; jt < n; jt += TILE) {
      const jEnd = Math.min(n, jt + TILE);
      for (let i = 0; i < jEnd - 1; i++) {
        const j0 = i < jt ? jt : (i + 1) & ~3;
        const out = kernel.rowDots(i, j0, Math.ceil((jEnd - j0) / 4));
        for (let j = Math.max(j0, i + 1); j < jEnd; j++) pair(i, j, out[j - j0]);
      }
      onRow?.(jEnd);
    }
  } else {
    jsPairs(Float64Array.from(data), n, dim, pair, onRow); // float64 loads beat float32 conversions in V8
  }
  // Heaps to sorted rows, nearest first (ties by index, so the result does not depend on visiting order).
  const index = new Int32Array(n * k);
  const dist2 = new Float64Array(n * k);
  const order = new Array<number>(k);
  for (let i = 0; i < n; i++) {
    const base = i * k;
    for (let t = 0; t < k; t++) order[t] = t;
    order.sort((x, y) => heapD[base + x] - heapD[base + y] || heapI[base + x] - heapI[base + y]);
    for (let t = 0; t < k; t++) {
      index[base + t] = heapI[base + order[t]];
      dist2[base + t] = heapD[base + order[t]];
    }
  }
  return { k, index, dist2 };
}

/**
 * Conditional probabilities p(j|i) over each row's neighbours with the bandwidth that gives the wanted
 * perplexity (binary search on beta = 1 / (2 sigma^2), 100 steps, tolerance 1e-5 on the entropy in
 * nats, as scikit-learn). Distances are shifted by the row minimum first, which leaves P unchanged but
 * keeps exp() from underflowing on high-dimensional inputs with large distances.
 */
export function conditionalP(nb: Neighbours, n: number, perplexity: number): Float64Array {
  const { k, dist2 } = nb;
  const P = new Float64Array(n * k);
  const desired = Math.log(perplexity);
  for (let i = 0; i < n; i++) {
    const base = i * k;
    let dmin = Infinity;
    for (let t = 0; t < k; t++) dmin = Math.min(dmin, dist2[base + t]);
    let beta = 1, lo = -Infinity, hi = Infinity;
    for (let step = 0; step < 100; step++) {
      let sum = 0;
      for (let t = 0; t < k; t++) {
        const p = Math.exp(-(dist2[base + t] - dmin) * beta);
        P[base + t] = p;
        sum += p;
      }
      if (sum === 0) sum = 1e-8;
      let sumDP = 0;
      for (let t = 0; t < k; t++) {
        P[base + t] /= sum;
        sumDP += (dist2[base + t] - dmin) * P[base + t];
      }
      const diff = Math.log(sum) + beta * sumDP - desired;
      if (Math.abs(diff) <= 1e-5) break;
      if (diff > 0) {
        lo = beta;
        beta = hi === Infinity ? beta * 2 : (beta + hi) / 2;
      } else {
        hi = beta;
        beta = lo === -Infinity ? beta / 2 : (beta + lo) / 2;
      }
    }
  }
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
