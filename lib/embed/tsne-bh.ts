/**
 * Barnes-Hut t-SNE gradient descent in 2-D (van der Maaten 2014), with scikit-learn's optimiser so that
 * results and KL values are comparable: gradient 4 (F_attr - F_rep / Z), early exaggeration on P,
 * momentum 0.5 then 0.8 (update and gains restart between the phases), gains +0.2 / x0.8 with floor 0.01.
 * The repulsive forces come from a quadtree (tsne-quadtree.ts) rebuilt each iteration on the calling
 * thread; a cell is summarised by its centre of mass when (cell width) / distance < theta. The forces
 * themselves are computed by the kernels (tsne-kernels.ts) on one thread or several.
 */
import type { SparseP } from "./tsne-affinity";
import { OP } from "./tsne-kernels";
import { JOIN, LocalExecutor, runSteps, type Steps, type TsneExecutor } from "./tsne-pool";
import { QuadTree } from "./tsne-quadtree";

/** Points per work item of the force computation (fixed, so that sums do not depend on the thread count). */
export const FORCE_CHUNK = 128;

export interface OptimiseOptions {
  iterations: number;
  exaggeration: number;
  exaggerationIterations: number;
  learningRate: number;
  theta: number;
  onIteration?: (iteration: number) => void;
}

/**
 * Optimises Y in place on the given executor; returns the Barnes-Hut estimate of Z at the last iteration.
 * Steps: yields an operation whenever the forces must be computed (see tsne-pool.ts).
 */
export function* optimiseSteps(exec: TsneExecutor, P: SparseP, Y0: Float64Array, opts: OptimiseOptions): Steps<number> {
  const n = P.n;
  const Y = exec.f64(2 * n);
  Y.set(Y0);
  const tree = new QuadTree(n, exec);
  const negF = exec.f64(2 * n);
  const posF = exec.f64(2 * n);
  const zPart = exec.f64(Math.ceil(n / FORCE_CHUNK));
  const grad = new Float64Array(2 * n);
  const update = new Float64Array(2 * n);
  const gains = new Float64Array(2 * n);
  exec.bind({
    n, Y, negF, posF, zPart,
    rowStart: exec.share(P.rowStart), cols: exec.share(P.cols), vals: exec.share(P.vals),
    theta2: opts.theta * opts.theta, forceChunk: FORCE_CHUNK, order: tree.order,
  });
  let bound: { packed?: Float64Array; child?: Int32Array } = {};
  let Z = 1;
  for (let it = 0; it < opts.iterations; it++) {
    const exploring = it < opts.exaggerationIterations;
    if (it === 0 || it === opts.exaggerationIterations) {
      update.fill(0);
      gains.fill(1);
      exec.bind({ exaggeration: exploring ? opts.exaggeration : 1 });
    }
    const momentum = exploring ? 0.5 : 0.8;
    // Workers start on the attraction (which needs no tree) while this thread builds the tree.
    exec.begin(OP.forces);
    tree.build(Y);
    if (bound.packed !== tree.packed || bound.child !== tree.child) {
      bound = { packed: tree.packed, child: tree.child };
      exec.bind(bound);
    }
    exec.treeReady();
    yield JOIN;
    Z = 0;
    for (let q = 0; q < zPart.length; q++) Z += zPart[q];
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
  Y0.set(Y);
  return Z;
}

/** Optimises Y in place on the calling thread; returns the Barnes-Hut estimate of Z at the last iteration. */
export function optimiseBarnesHut(P: SparseP, Y: Float64Array, opts: OptimiseOptions): number {
  const exec = new LocalExecutor();
  return runSteps(optimiseSteps(exec, P, Y, opts), exec);
}
