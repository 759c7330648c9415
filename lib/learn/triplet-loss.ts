/**
 * Batch semi-hard triplet loss with the semantics of TF-Addons' `triplet_semihard_loss` (distance "L2"):
 *   for every anchor a and every positive p != a of the same label,
 *     the negative is the closest n (other label) with D(a,n) > D(a,p)  (semi-hard),
 *     or, when no negative is farther than p, the farthest negative of a;
 *   loss = mean over (a, p) of max(margin + D(a,p) - D(a,n), 0), D the Euclidean distance.
 * Edge cases follow TF-Addons too (an anchor with no negative in the batch gets D(a,n) = 0); one difference:
 * a batch with no positive pair gives 0 here instead of TF-Addons' NaN (0 / 0).
 */
import type * as tfTypes from "@tensorflow/tfjs";
import { tfModule } from "../backbone/tf";


/** Euclidean distance matrix [n, n], zero on the diagonal, with a finite gradient at zero distance. */
export function pairwiseDistance(embeddings: tfTypes.Tensor2D, squared = false): tfTypes.Tensor2D {
  const tf = tfModule();
  return tf.tidy(() => {
    const sq = tf.sum(tf.square(embeddings), 1, true);
    const d2 = tf.maximum(tf.sub(tf.add(sq, tf.transpose(sq)), tf.mul(2, tf.matMul(embeddings, embeddings, false, true))), 0);
    // where d2 == 0, sqrt has an infinite gradient: add 1e-16 there, then zero those entries again.
    // Masks use step() (x > 0 ? 1 : 0), which has a (zero) gradient; tfjs has none for comparisons.
    const keep = tf.step(d2, 0);
    const d = squared ? d2 : tf.sqrt(tf.add(d2, tf.mul(tf.sub(1, keep), 1e-16)));
    const n = embeddings.shape[0];
    const offDiagonal = tf.sub(tf.onesLike(d), tf.eye(n));
    return tf.mul(tf.mul(d, keep), offDiagonal) as tfTypes.Tensor2D;
  });
}

/**
 * For every (anchor, positive) pair of a batch, the index of its semi-hard negative, chosen from the distance
 * values in plain JS: the closest negative farther than the positive, else the farthest negative, else (no
 * negative in the batch) the anchor itself, distance 0, as TF-Addons' masked maximum gives. O(n^3) scalar work
 * but no n^3 tensor: on the tape only two gathers of the distance matrix remain, so the backward pass is O(n^2).
 */
export function semiHardTriplets(labels: ArrayLike<number>, dist: ArrayLike<number>, n: number): { positive: Int32Array; negative: Int32Array } {
  const pos: number[] = [];
  const neg: number[] = [];
  for (let a = 0; a < n; a++) {
    let farthest = -1;
    for (let x = 0; x < n; x++) if (labels[x] !== labels[a] && (farthest < 0 || dist[a * n + x] > dist[a * n + farthest])) farthest = x;
    for (let p = 0; p < n; p++) {
      if (p === a || labels[p] !== labels[a]) continue;
      const dap = dist[a * n + p];
      let best = -1;
      for (let x = 0; x < n; x++) {
        if (labels[x] === labels[a]) continue;
        const dan = dist[a * n + x];
        if (dan > dap && (best < 0 || dan < dist[a * n + best])) best = x;
      }
      pos.push(a * n + p);
      neg.push(a * n + (best >= 0 ? best : farthest >= 0 ? farthest : a));
    }
  }
  return { positive: Int32Array.from(pos), negative: Int32Array.from(neg) };
}

/**
 * The loss as a scalar tensor (differentiable in `embeddings`). `labels` are integer class ids, one per row.
 * @param margin default 1.0, as TF-Addons.
 */
export function tripletSemiHardLoss(labels: Int32Array | number[], embeddings: tfTypes.Tensor2D, margin = 1.0): tfTypes.Scalar {
  const tf = tfModule();
  const n = embeddings.shape[0];
  if (labels.length !== n) throw new Error(`tripletSemiHardLoss: ${labels.length} labels for ${n} embeddings`);
  return tf.tidy(() => {
    const pdist = pairwiseDistance(embeddings);
    // the selection is a constant for the gradient (as in TF-Addons, where masks carry no gradient)
    const { positive, negative } = semiHardTriplets(labels, pdist.dataSync(), n);
    if (positive.length === 0) return tf.mul(tf.sum(pdist), 0) as tfTypes.Scalar; // 0, still connected to the weights
    const flat = pdist.reshape([n * n]) as tfTypes.Tensor1D;
    const dap = gatherWithGradient(flat, positive);
    const dan = gatherWithGradient(flat, negative);
    return tf.mean(tf.relu(tf.add(tf.sub(dap, dan), margin))) as tfTypes.Scalar;
  });
}

/**
 * values[indices] with a gradient that scatters back in JS: tfjs-wasm lacks UnsortedSegmentSum, the kernel
 * of gather's own gradient.
 */
export function gatherWithGradient(values: tfTypes.Tensor1D, indices: Int32Array): tfTypes.Tensor1D {
  const tf = tfModule();
  const size = values.shape[0];
  const f = tf.customGrad((...inputs) => ({
    value: tf.tidy(() => tf.gather(inputs[0] as tfTypes.Tensor, tf.tensor1d(indices, "int32"))),
    gradFunc: (dy: tfTypes.Tensor) => {
      const g = dy.dataSync();
      const out = new Float32Array(size);
      for (let i = 0; i < indices.length; i++) out[indices[i]] += g[i];
      return tf.tensor1d(out);
    },
  }));
  return f(values) as tfTypes.Tensor1D;
}
