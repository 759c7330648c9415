/**
 * Barnes-Hut t-SNE gradient descent in 2-D (van der Maaten 2014), with scikit-learn's optimiser so that
 * results and KL values are comparable: gradient 4 (F_attr - F_rep / Z), early exaggeration on P,
 * momentum 0.5 then 0.8 (update and gains restart between the phases), gains +0.2 / x0.8 with floor 0.01.
 * The repulsive forces come from a quadtree rebuilt each iteration; a cell is summarised by its centre of
 * mass when (cell width) / distance < theta.
 */
import type { SparseP } from "./tsne-affinity";

export interface OptimiseOptions {
  iterations: number;
  exaggeration: number;
  exaggerationIterations: number;
  learningRate: number;
  theta: number;
  onIteration?: (iteration: number) => void;
}

/** A quadtree in flat typed arrays; node 0 is the root, the four children of a node are consecutive. */
class QuadTree {
  cap = 0;
  size = 0;
  cx = new Float64Array(0);
  cy = new Float64Array(0);
  hw = new Float64Array(0); // half width of the square cell
  comX = new Float64Array(0); // sum of positions, then centre of mass after finish()
  comY = new Float64Array(0);
  count = new Int32Array(0);
  child = new Int32Array(0); // index of the first of four children, -1 for a leaf
  point = new Int32Array(0); // the point stored in a leaf, -1 when empty
  /** Per node, read by the force loop: centre of mass x, y, squared cell width, count (one cache line). */
  packed = new Float64Array(0);
  /** Points in spatial order, so consecutive force computations walk the same part of the tree. */
  order = new Int32Array(0);

  constructor(n: number) {
    this.grow(Math.max(16, 4 * n));
  }

  private grow(cap: number) {
    const copy = <T extends Float64Array | Int32Array>(a: T, make: (c: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    const f = (c: number) => new Float64Array(c);
    const g = (c: number) => new Int32Array(c);
    this.cx = copy(this.cx, f); this.cy = copy(this.cy, f); this.hw = copy(this.hw, f);
    this.comX = copy(this.comX, f); this.comY = copy(this.comY, f);
    this.count = copy(this.count, g); this.child = copy(this.child, g); this.point = copy(this.point, g);
    this.cap = cap;
  }

  private node(cx: number, cy: number, hw: number): number {
    if (this.size === this.cap) this.grow(this.cap * 2);
    const i = this.size++;
    this.cx[i] = cx; this.cy[i] = cy; this.hw[i] = hw;
    this.comX[i] = 0; this.comY[i] = 0; this.count[i] = 0;
    this.child[i] = -1; this.point[i] = -1;
    return i;
  }

  build(Y: Float64Array, n: number): void {
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = Y[2 * i], y = Y[2 * i + 1];
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
    const hw = (Math.max(maxX - minX, maxY - minY) / 2) * (1 + 1e-6) + 1e-12;
    this.size = 0;
    this.node((minX + maxX) / 2, (minY + maxY) / 2, hw);
    for (let i = 0; i < n; i++) this.insert(Y, i);
    if (this.packed.length < 4 * this.size) this.packed = new Float64Array(4 * this.cap);
    const packed = this.packed;
    for (let c = 0; c < this.size; c++) {
      const cnt = this.count[c];
      packed[4 * c] = cnt > 0 ? this.comX[c] / cnt : 0;
      packed[4 * c + 1] = cnt > 0 ? this.comY[c] / cnt : 0;
      packed[4 * c + 2] = 4 * this.hw[c] * this.hw[c];
      packed[4 * c + 3] = cnt;
    }
    this.spatialOrder(n);
  }

  /** Point indices in depth-first leaf order: neighbours in the map come one after another. */
  private spatialOrder(n: number): void {
    if (this.order.length !== n) this.order = new Int32Array(n);
    let out = 0;
    const stack = [0];
    while (stack.length) {
      const c = stack.pop() as number;
      if (this.count[c] === 0) continue;
      if (this.child[c] >= 0) {
        const f = this.child[c];
        stack.push(f + 3, f + 2, f + 1, f);
      } else if (this.point[c] >= 0 && out < n) {
        this.order[out++] = this.point[c];
      }
    }
    // Coincident points share a leaf that records only one of them: append the others.
    if (out < n) {
      const seen = new Uint8Array(n);
      for (let t = 0; t < out; t++) seen[this.order[t]] = 1;
      for (let i = 0; i < n; i++) if (!seen[i]) this.order[out++] = i;
    }
  }

  private quadrant(node: number, x: number, y: number): number {
    return this.child[node] + (x >= this.cx[node] ? 1 : 0) + (y >= this.cy[node] ? 2 : 0);
  }

  private subdivide(node: number): void {
    const h = this.hw[node] / 2;
    const cx = this.cx[node], cy = this.cy[node];
    const first = this.node(cx - h, cy - h, h);
    this.node(cx + h, cy - h, h);
    this.node(cx - h, cy + h, h);
    this.node(cx + h, cy + h, h);
    this.child[node] = first;
  }

  private insert(Y: Float64Array, p: number): void {
    const x = Y[2 * p], y = Y[2 * p + 1];
    let node = 0;
    for (;;) {
      this.count[node]++;
      this.comX[node] += x;
      this.comY[node] += y;
      if (this.child[node] >= 0) {
        node = this.quadrant(node, x, y);
        continue;
      }
      if (this.count[node] === 1) {
        this.point[node] = p;
        return;
      }
      const q = this.point[node];
      const qx = Y[2 * q], qy = Y[2 * q + 1];
      // Coincident points (or a cell too small to split) stay together in one leaf.
      if ((qx === x && qy === y) || this.hw[node] < 1e-10) return;
      this.subdivide(node);
      this.point[node] = -1;
      const qc = this.quadrant(node, qx, qy);
      this.count[qc] = this.count[node] - 1; // the points already here (q and its duplicates)
      this.comX[qc] = qx * this.count[qc];
      this.comY[qc] = qy * this.count[qc];
      this.point[qc] = q;
      node = this.quadrant(node, x, y);
    }
  }
}

/**
 * Repulsive part for every point: negF = sum_j q_ij^2 Z (y_i - y_j) and Z = sum_{i != j} 1 / (1 + d_ij^2),
 * both approximated with the quadtree. Returns Z.
 */
function repulsion(tree: QuadTree, Y: Float64Array, n: number, theta: number, negF: Float64Array, stack: Int32Array): number {
  const theta2 = theta * theta;
  const { packed, child, order } = tree;
  let Z = 0;
  for (let r = 0; r < n; r++) {
    const i = order[r];
    const x = Y[2 * i], y = Y[2 * i + 1];
    let fx = 0, fy = 0, z = 0;
    let top = 0;
    stack[top++] = 0;
    while (top > 0) {
      const c = stack[--top];
      const o = 4 * c;
      const cnt = packed[o + 3];
      if (cnt === 0) continue;
      const dx = x - packed[o], dy = y - packed[o + 1];
      const d2 = dx * dx + dy * dy;
      const f = child[c];
      if (f < 0 || packed[o + 2] < theta2 * d2) {
        if (d2 === 0) {
          z += cnt - 1; // the point itself and its exact duplicates: q = 1, no force
          continue;
        }
        const q = 1 / (1 + d2);
        const m = cnt * q;
        z += m;
        fx += m * q * dx;
        fy += m * q * dy;
      } else {
        stack[top++] = f;
        stack[top++] = f + 1;
        stack[top++] = f + 2;
        stack[top++] = f + 3;
      }
    }
    negF[2 * i] = fx;
    negF[2 * i + 1] = fy;
    Z += z;
  }
  return Z;
}

/** Attractive part: posF_i = sum_j p_ij q_ij Z (y_i - y_j), over the non-zeros of P. */
function attraction(P: SparseP, Y: Float64Array, exaggeration: number, posF: Float64Array): void {
  const { n, rowStart, cols, vals } = P;
  for (let i = 0; i < n; i++) {
    const x = Y[2 * i], y = Y[2 * i + 1];
    let fx = 0, fy = 0;
    for (let e = rowStart[i]; e < rowStart[i + 1]; e++) {
      const j = cols[e];
      const dx = x - Y[2 * j], dy = y - Y[2 * j + 1];
      const w = (vals[e] * exaggeration) / (1 + dx * dx + dy * dy);
      fx += w * dx;
      fy += w * dy;
    }
    posF[2 * i] = fx;
    posF[2 * i + 1] = fy;
  }
}

/** Optimises Y in place; returns the Barnes-Hut estimate of Z at the last iteration. */
export function optimiseBarnesHut(P: SparseP, Y: Float64Array, opts: OptimiseOptions): number {
  const n = P.n;
  const tree = new QuadTree(n);
  const negF = new Float64Array(2 * n);
  const posF = new Float64Array(2 * n);
  const grad = new Float64Array(2 * n);
  const update = new Float64Array(2 * n);
  const gains = new Float64Array(2 * n);
  let stack = new Int32Array(1024);
  let Z = 1;
  for (let it = 0; it < opts.iterations; it++) {
    const exploring = it < opts.exaggerationIterations;
    if (it === 0 || it === opts.exaggerationIterations) {
      update.fill(0);
      gains.fill(1);
    }
    const momentum = exploring ? 0.5 : 0.8;
    tree.build(Y, n);
    if (stack.length < 3 * tree.size + 4) stack = new Int32Array(3 * tree.size + 4);
    Z = repulsion(tree, Y, n, opts.theta, negF, stack);
    attraction(P, Y, exploring ? opts.exaggeration : 1, posF);
    const invZ = 1 / Math.max(Z, Number.MIN_VALUE);
    let norm2 = 0;
    for (let t = 0; t < 2 * n; t++) {
      const g = 4 * (posF[t] - negF[t] * invZ);
      grad[t] = g;
      norm2 += g * g;
    }
    for (let t = 0; t < 2 * n; t++) {
      const g = grad[t];
      let gain = update[t] * g < 0 ? gains[t] + 0.2 : gains[t] * 0.8;
      if (gain < 0.01) gain = 0.01;
      gains[t] = gain;
      update[t] = momentum * update[t] - opts.learningRate * gain * g;
      Y[t] += update[t];
    }
    opts.onIteration?.(it + 1);
    if (norm2 < 1e-14) break; // scikit-learn's min_grad_norm = 1e-7: nothing left to move
  }
  return Z;
}
