/**
 * The hot loops of Barnes-Hut t-SNE, written once and run both on the calling thread and in worker
 * threads (tsne-pool.ts). Workers must not need a TypeScript loader, so the worker script is built from
 * these functions' own compiled text (`Function.prototype.toString`), whatever compiled them (tsx or
 * tslab). That only works because every function here is self-contained:
 *   - no imports, no module-level constants or helpers other than the functions listed in KERNELS
 *     (they call one another by name), no nested functions, classes, spreads or for-of;
 *   - all state comes in through `S` (KernelState) and the control array `ctrl`.
 *
 * Work is split into numbered items (tiles, row chunks) whose boundaries depend only on the input, and
 * threads claim items with an atomic counter (ctrl[CTRL.claim]). Every item writes its own outputs and
 * every sum over items is taken afterwards in item order, so the result is the same bit for bit whatever
 * the number of threads and whichever thread did which item.
 */

/** Slots of the shared Int32Array that drives the workers (tsne-pool.ts); the kernels use the numbers. */
export const CTRL = { go: 0, claim: 1, done: 2, op: 3, error: 4, gen: 5, tree: 6, length: 8 } as const;

/**
 * Operations a thread can be asked to run (ctrl[CTRL.op]); 0 tells workers to exit. `fail` makes the
 * workers throw and the calling thread do nothing: the tests use it to check that a worker's error
 * rejects the run.
 */
export const OP = { exit: 0, neighbours: 1, affinities: 2, pca: 3, forces: 4, fail: 5 } as const;
export type OpCode = (typeof OP)[keyof typeof OP];

/** Everything a kernel reads or writes. Typed arrays are SharedArrayBuffer-backed when workers run. */
export interface KernelState {
  /** This thread's index (0 = the calling thread) and the thread count. */
  t: number;
  T: number;
  n: number;
  dim: number;
  /** Neighbours per row. */
  k: number;
  /** Main thread only: called with the number of claimed neighbour tiles. */
  progress: ((claimed: number) => void) | null;
  /** Workers only: picks up fields the calling thread changed since the operation began. */
  refresh: (() => void) | null;

  // neighbour search (tsneNeighbourTiles): SIMD dot products of a row against 4 rows at a time
  dots: ((a: number, b: number, groups: number, bytes: number, out: number) => void) | null;
  /** This thread's output slots of the SIMD kernel, at byte offset outPtr of its memory. */
  out: Float32Array;
  outPtr: number;
  rowBytes: number;
  tile: number;
  nTiles: number;
  norms: Float64Array;
  /** T * n * k bounded max-heaps, one set per thread, merged by tsneAffinityRows. */
  heapD: Float64Array;
  heapI: Int32Array;

  // affinities (tsneAffinityRows)
  rowChunk: number;
  /** log(perplexity). */
  desired: number;
  nbIndex: Int32Array;
  nbDist2: Float64Array;
  pCond: Float64Array;

  // PCA start layout (tsnePcaRows)
  matrix: Float32Array;
  stride: number;
  mean: Float64Array;
  /** pcaB vectors of length dim, row after row. */
  V: Float64Array;
  pcaB: number;
  /** pcaB columns of length n: XV[c * n + i] = (x_i - mean) . V[c]. */
  XV: Float64Array;
  pcaChunkRows: number;
  /** Per row chunk, pcaB * dim partial sums of (x_i - mean) * XV[c][i]. */
  partial: Float64Array;
  accumulate: number;

  // gradient (tsneForces)
  Y: Float64Array;
  packed: Float64Array;
  child: Int32Array;
  order: Int32Array;
  negF: Float64Array;
  posF: Float64Array;
  zPart: Float64Array;
  rowStart: Int32Array;
  cols: Int32Array;
  vals: Float64Array;
  theta2: number;
  exaggeration: number;
  forceChunk: number;
  stack: Int32Array;
}

/** Runs the claimed items of operation `op` until none is left. */
export function tsneRunOp(S: KernelState, ctrl: Int32Array, op: number): void {
  if (op === 1) tsneNeighbourTiles(S, ctrl);
  else if (op === 2) tsneAffinityRows(S, ctrl);
  else if (op === 3) tsnePcaRows(S, ctrl);
  else if (op === 4) tsneForces(S, ctrl);
  else if (op === 5) {
    if (S.t !== 0) throw new Error("t-SNE worker " + S.t + ": injected failure");
  } else throw new Error("unknown t-SNE operation " + op);
}

/**
 * Exact neighbours by brute force. Item q is a tile of `tile` columns j; every row i < j meets it, so the
 * pair (i, j) is computed once and offered to both rows' heaps (this thread's set). Largest tiles first.
 */
export function tsneNeighbourTiles(S: KernelState, ctrl: Int32Array): void {
  const n = S.n, k = S.k, tile = S.tile, nTiles = S.nTiles, rowBytes = S.rowBytes;
  const norms = S.norms, out = S.out, outPtr = S.outPtr, dots = S.dots;
  const heapD = S.heapD, heapI = S.heapI, own = S.t * n * k;
  if (dots === null) throw new Error("t-SNE neighbour search without its SIMD kernel");
  for (;;) {
    const q = Atomics.add(ctrl, 1, 1);
    if (q >= nTiles) return;
    if (S.progress !== null) S.progress(q + 1);
    const jt = (nTiles - 1 - q) * tile;
    const jEnd = Math.min(n, jt + tile);
    for (let i = 0; i < jEnd - 1; i++) {
      const j0 = i < jt ? jt : (i + 1) & ~3;
      dots(i * rowBytes, j0 * rowBytes, Math.ceil((jEnd - j0) / 4), rowBytes, outPtr);
      const ni = norms[i];
      for (let j = Math.max(j0, i + 1); j < jEnd; j++) {
        const d = Math.max(0, ni + norms[j] - 2 * out[j - j0]);
        tsneHeapOffer(heapD, heapI, own + i * k, k, j, d);
        tsneHeapOffer(heapD, heapI, own + j * k, k, i, d);
      }
    }
  }
}

/**
 * Offers neighbour j at squared distance d to the bounded max-heap at `base`. Entries are ordered by
 * (distance, index), so the heap ends up holding the k smallest pairs whatever the order of the offers.
 */
export function tsneHeapOffer(hd: Float64Array, hi: Int32Array, base: number, k: number, j: number, d: number): void {
  const rd = hd[base];
  if (d > rd || (d === rd && j > hi[base])) return;
  tsneHeapSiftDown(hd, hi, base, k, j, d);
}

/** Puts (d, j) at the root of the max-heap of `size` entries at `base` and sifts it down to its place. */
export function tsneHeapSiftDown(hd: Float64Array, hi: Int32Array, base: number, size: number, j: number, d: number): void {
  let pos = 0;
  for (;;) {
    const l = 2 * pos + 1;
    if (l >= size) break;
    let c = l;
    const r = l + 1;
    if (r < size && (hd[base + r] > hd[base + l] || (hd[base + r] === hd[base + l] && hi[base + r] > hi[base + l]))) c = r;
    const cd = hd[base + c];
    if (cd < d || (cd === d && hi[base + c] < j)) break;
    hd[base + pos] = cd;
    hi[base + pos] = hi[base + c];
    pos = c;
  }
  hd[base + pos] = d;
  hi[base + pos] = j;
}

/** Sorts the max-heap at `base` in place into ascending (distance, index) order (heapsort's second half). */
export function tsneHeapSort(hd: Float64Array, hi: Int32Array, base: number, k: number): void {
  for (let end = k - 1; end > 0; end--) {
    const d = hd[base + end], j = hi[base + end];
    hd[base + end] = hd[base];
    hi[base + end] = hi[base];
    tsneHeapSiftDown(hd, hi, base, end, j, d);
  }
}

/**
 * Item q = rows [q * rowChunk, ...): merges the threads' heaps into sorted neighbour rows, then (when
 * pCond is not empty) computes p(j|i).
 */
export function tsneAffinityRows(S: KernelState, ctrl: Int32Array): void {
  const n = S.n, k = S.k, T = S.T, chunk = S.rowChunk;
  const chunks = Math.ceil(n / chunk);
  const hd = S.heapD, hi = S.heapI, index = S.nbIndex, dist2 = S.nbDist2;
  const ptr = new Int32Array(T);
  for (;;) {
    const q = Atomics.add(ctrl, 1, 1);
    if (q >= chunks) return;
    const end = Math.min(n, (q + 1) * chunk);
    for (let i = q * chunk; i < end; i++) {
      for (let t = 0; t < T; t++) {
        tsneHeapSort(hd, hi, (t * n + i) * k, k);
        ptr[t] = 0;
      }
      for (let s = 0; s < k; s++) {
        let best = 0, bd = Infinity, bj = 0x7fffffff;
        for (let t = 0; t < T; t++) {
          if (ptr[t] >= k) continue;
          const e = (t * n + i) * k + ptr[t];
          if (hd[e] < bd || (hd[e] === bd && hi[e] < bj)) {
            best = t;
            bd = hd[e];
            bj = hi[e];
          }
        }
        ptr[best]++;
        index[i * k + s] = bj;
        dist2[i * k + s] = bd;
      }
      if (S.pCond.length !== 0) tsneConditionalRow(dist2, i * k, k, S.desired, S.pCond);
    }
  }
}

/**
 * p(j|i) over row i's neighbours with the bandwidth that gives the wanted perplexity (binary search on
 * beta = 1 / (2 sigma^2), 100 steps, tolerance 1e-5 on the entropy in nats, as scikit-learn). Distances
 * are shifted by the row minimum, which leaves P unchanged but keeps exp() from underflowing.
 */
export function tsneConditionalRow(dist2: Float64Array, base: number, k: number, desired: number, P: Float64Array): void {
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

/**
 * One subspace-iteration pass of the PCA start layout. Item q = rows [q * pcaChunkRows, ...):
 * XV[c][i] = (x_i - mean) . V[c] and, when accumulating, the chunk's partial sums of (x_i - mean) XV[c][i].
 * Vectors go by threes, so that each pass over a row feeds three products.
 */
export function tsnePcaRows(S: KernelState, ctrl: Int32Array): void {
  const n = S.n, dim = S.dim, stride = S.stride, M = S.matrix, mean = S.mean, V = S.V, b = S.pcaB, XV = S.XV;
  const chunk = S.pcaChunkRows, chunks = Math.ceil(n / chunk), acc = S.accumulate !== 0, partial = S.partial;
  const row = new Float64Array(dim);
  for (;;) {
    const q = Atomics.add(ctrl, 1, 1);
    if (q >= chunks) return;
    const part = q * b * dim;
    if (acc) partial.fill(0, part, part + b * dim);
    const end = Math.min(n, (q + 1) * chunk);
    for (let i = q * chunk; i < end; i++) {
      const o = i * stride;
      for (let t = 0; t < dim; t++) row[t] = M[o + t] - mean[t];
      for (let c = 0; c < b; c += 3) {
        // three vectors per pass over the row; past the block's end, repeat the last one (results unused)
        const v0 = c * dim, v1 = c + 1 < b ? v0 + dim : v0, v2 = c + 2 < b ? v0 + 2 * dim : v0;
        let s0 = 0, s1 = 0, s2 = 0;
        for (let t = 0; t < dim; t++) {
          const r = row[t];
          s0 += r * V[v0 + t];
          s1 += r * V[v1 + t];
          s2 += r * V[v2 + t];
        }
        XV[c * n + i] = s0;
        if (c + 1 < b) XV[(c + 1) * n + i] = s1;
        if (c + 2 < b) XV[(c + 2) * n + i] = s2;
        if (acc) {
          const p0 = part + c * dim;
          const w1 = c + 1 < b ? s1 : 0, w2 = c + 2 < b ? s2 : 0;
          const p1 = c + 1 < b ? p0 + dim : p0, p2 = c + 2 < b ? p0 + 2 * dim : p0;
          for (let u = 0; u < dim; u++) {
            const r = row[u];
            partial[p0 + u] += r * s0;
            partial[p1 + u] += r * w1;
            partial[p2 + u] += r * w2;
          }
        }
      }
    }
  }
}

/**
 * The gradient's two parts. Items [0, R) are chunks of rows of P (attraction), items [R, 2R) chunks of the
 * quadtree's spatial order (repulsion, whose per-chunk sum of Z goes to zPart). The calling thread starts
 * this operation before it builds the quadtree, so workers do attraction meanwhile; repulsion waits
 * until ctrl[CTRL.tree] shows this operation's number.
 */
export function tsneForces(S: KernelState, ctrl: Int32Array): void {
  const n = S.n, chunk = S.forceChunk, R = Math.ceil(n / chunk);
  let treeReady = false;
  for (;;) {
    const q = Atomics.add(ctrl, 1, 1);
    if (q >= 2 * R) return;
    if (q < R) {
      tsneAttraction(S, q * chunk, Math.min(n, (q + 1) * chunk));
      continue;
    }
    if (!treeReady) {
      const seq = Atomics.load(ctrl, 0);
      for (let t = Atomics.load(ctrl, 6); t !== seq; t = Atomics.load(ctrl, 6)) Atomics.wait(ctrl, 6, t);
      if (S.refresh !== null) S.refresh();
      const need = 3 * (S.packed.length >> 2) + 4;
      if (S.stack.length < need) S.stack = new Int32Array(need);
      treeReady = true;
    }
    const r = q - R;
    S.zPart[r] = tsneRepulsion(S, r * chunk, Math.min(n, (r + 1) * chunk));
  }
}

/**
 * Repulsion for the points order[start..end): negF_i = sum_j q_ij^2 Z (y_i - y_j), with a quadtree cell
 * summarised by its centre of mass when (cell width)^2 < theta^2 d^2. Returns the chunk's share of Z.
 * packed holds per node: centre of mass x, y, squared width (-1 for a leaf, so leaves are always
 * summarised), count; child is -1 for a leaf, else (first child << 2) | (children - 1). Children are
 * tested as soon as their parent is opened, so only the cells to open go through the stack.
 * Each point meets its own leaf at distance 0 (no cell holding it can pass the test for theta < 0.7),
 * which adds q = 1 per point (and per exact duplicate, as it should) but no force: hence the - 1.
 */
export function tsneRepulsion(S: KernelState, start: number, end: number): number {
  const Y = S.Y, packed = S.packed, child = S.child, order = S.order, negF = S.negF, stack = S.stack;
  const theta2 = S.theta2;
  let Z = 0;
  for (let r = start; r < end; r++) {
    const i = order[r];
    const x = Y[2 * i], y = Y[2 * i + 1];
    let fx = 0, fy = 0, z = 0;
    let top = 0;
    if (child[0] < 0) {
      // the root is a leaf: every point (nearly) coincides with this one
      const dx = x - packed[0], dy = y - packed[1];
      const qij = 1 / (1 + dx * dx + dy * dy);
      z += packed[3] * qij;
    } else {
      stack[top++] = 0;
    }
    while (top > 0) {
      const e = child[stack[--top]];
      const first = e >> 2, last = first + (e & 3);
      for (let c = first; c <= last; c++) {
        const o = 4 * c;
        const dx = x - packed[o], dy = y - packed[o + 1];
        const d2 = dx * dx + dy * dy;
        if (packed[o + 2] < theta2 * d2) {
          const qij = 1 / (1 + d2);
          const m = packed[o + 3] * qij;
          z += m;
          fx += m * qij * dx;
          fy += m * qij * dy;
        } else {
          stack[top++] = c;
        }
      }
    }
    negF[2 * i] = fx;
    negF[2 * i + 1] = fy;
    Z += z - 1;
  }
  return Z;
}

/**
 * Attraction for rows [start, end): posF_i = exaggeration * sum_j p_ij q_ij Z (y_i - y_j). Two entries
 * per step with separate sums (about a third faster in V8 than one).
 */
export function tsneAttraction(S: KernelState, start: number, end: number): void {
  const Y = S.Y, rowStart = S.rowStart, cols = S.cols, vals = S.vals, posF = S.posF, ex = S.exaggeration;
  for (let i = start; i < end; i++) {
    const x = Y[2 * i], y = Y[2 * i + 1];
    let fx = 0, fy = 0, gx = 0, gy = 0;
    let e = rowStart[i];
    const last = rowStart[i + 1];
    for (; e + 1 < last; e += 2) {
      const j = cols[e], k = cols[e + 1];
      const dx = x - Y[2 * j], dy = y - Y[2 * j + 1];
      const ux = x - Y[2 * k], uy = y - Y[2 * k + 1];
      const w = vals[e] / (1 + dx * dx + dy * dy);
      const v = vals[e + 1] / (1 + ux * ux + uy * uy);
      fx += w * dx;
      fy += w * dy;
      gx += v * ux;
      gy += v * uy;
    }
    if (e < last) {
      const j = cols[e];
      const dx = x - Y[2 * j], dy = y - Y[2 * j + 1];
      const w = vals[e] / (1 + dx * dx + dy * dy);
      fx += w * dx;
      fy += w * dy;
    }
    posF[2 * i] = (fx + gx) * ex;
    posF[2 * i + 1] = (fy + gy) * ex;
  }
}

/** The functions above, in the order the worker script defines them. */
export const KERNELS = [
  tsneRunOp,
  tsneNeighbourTiles,
  tsneHeapOffer,
  tsneHeapSiftDown,
  tsneHeapSort,
  tsneAffinityRows,
  tsneConditionalRow,
  tsnePcaRows,
  tsneForces,
  tsneRepulsion,
  tsneAttraction,
];

/** A state with every field empty; callers fill what their operations need. */
export function emptyKernelState(t: number, T: number): KernelState {
  const f64 = new Float64Array(0), i32 = new Int32Array(0);
  return {
    t, T, n: 0, dim: 0, k: 0, progress: null, refresh: null,
    dots: null, out: new Float32Array(0), outPtr: 0, rowBytes: 0, tile: 0, nTiles: 0, norms: f64, heapD: f64, heapI: i32,
    rowChunk: 1, desired: 0, nbIndex: i32, nbDist2: f64, pCond: f64,
    matrix: new Float32Array(0), stride: 0, mean: f64, V: f64, pcaB: 0, XV: f64, pcaChunkRows: 1, partial: f64, accumulate: 0,
    Y: f64, packed: f64, child: i32, order: i32, negF: f64, posF: f64, zPart: f64, rowStart: i32, cols: i32, vals: f64,
    theta2: 0, exaggeration: 1, forceChunk: 1, stack: new Int32Array(64),
  };
}
