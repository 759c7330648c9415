import { test } from "node:test";
import * as assert from "node:assert/strict";
import { getTf } from "../lib/backbone/tf";
import { pairwiseDistance, tripletSemiHardLoss } from "../lib/learn/triplet-loss";
import { seededRandom } from "../lib/learn/train";

/**
 * Brute force, straight from the definition: enumerate every (anchor, positive) pair and every negative;
 * the semi-hard negative is the closest negative farther than the positive, else the farthest negative
 * (TF-Addons; with no negative at all, the anchor's row minimum, i.e. 0 from the diagonal).
 */
function referenceLoss(labels: number[], emb: number[][], margin: number): number {
  const n = labels.length;
  const d = (a: number, b: number) => (a === b ? 0 : Math.sqrt(emb[a].reduce((s, v, k) => s + (v - emb[b][k]) ** 2, 0)));
  let total = 0;
  let count = 0;
  for (let a = 0; a < n; a++) {
    for (let p = 0; p < n; p++) {
      if (p === a || labels[p] !== labels[a]) continue;
      const dap = d(a, p);
      const negatives = [...Array(n).keys()].filter((x) => labels[x] !== labels[a]).map((x) => d(a, x));
      const farther = negatives.filter((dn) => dn > dap);
      let dan: number;
      if (farther.length) dan = Math.min(...farther);
      else if (negatives.length) dan = Math.max(...negatives);
      else dan = Math.min(...[...Array(n).keys()].map((x) => d(a, x)));
      total += Math.max(margin + dap - dan, 0);
      count++;
    }
  }
  return count ? total / count : 0;
}

function randomBatch(n: number, dim: number, classes: number, seed: number, scale = 1) {
  const rand = seededRandom(seed);
  const labels = Array.from({ length: n }, (_, i) => i % classes);
  const emb = Array.from({ length: n }, () => Array.from({ length: dim }, () => (rand() * 2 - 1) * scale));
  return { labels, emb };
}

test("semi-hard triplet loss equals the brute-force reference (several batches and margins)", async () => {
  const tf = await getTf();
  const cases = [
    { n: 12, dim: 5, classes: 3, seed: 1, margin: 1.0, scale: 1 },
    { n: 10, dim: 3, classes: 4, seed: 2, margin: 0.2, scale: 1 },
    { n: 16, dim: 8, classes: 2, seed: 3, margin: 0.5, scale: 0.3 },
    { n: 9, dim: 4, classes: 9, seed: 4, margin: 1.0, scale: 1 }, // no positive pair: 0
    { n: 6, dim: 4, classes: 1, seed: 5, margin: 1.0, scale: 1 }, // no negative at all
  ];
  for (const c of cases) {
    const { labels, emb } = randomBatch(c.n, c.dim, c.classes, c.seed, c.scale);
    const x = tf.tensor2d(emb);
    const loss = tripletSemiHardLoss(labels, x, c.margin);
    const got = (await loss.data())[0];
    x.dispose();
    loss.dispose();
    const want = referenceLoss(labels, emb, c.margin);
    assert.ok(Math.abs(got - want) <= 1e-5, `case ${JSON.stringify(c)}: ${got} vs reference ${want}`);
  }
});

test("the reference exercises both branches: some pairs have a semi-hard negative, some fall back to the farthest", async () => {
  const { labels, emb } = randomBatch(12, 5, 3, 1);
  const d = (a: number, b: number) => Math.sqrt(emb[a].reduce((s, v, k) => s + (v - emb[b][k]) ** 2, 0));
  let semiHard = 0;
  let fallback = 0;
  for (let a = 0; a < 12; a++)
    for (let p = 0; p < 12; p++) {
      if (p === a || labels[p] !== labels[a]) continue;
      const farther = [...Array(12).keys()].some((x) => labels[x] !== labels[a] && d(a, x) > d(a, p));
      if (farther) semiHard++;
      else fallback++;
    }
  assert.ok(semiHard > 0 && fallback > 0, `semi-hard ${semiHard}, fallback ${fallback}`);
});

test("gradients are finite even with duplicate embeddings (zero distances)", async () => {
  const tf = await getTf();
  const emb = tf.tensor2d([[1, 0], [1, 0], [0, 1], [0, 1], [0.5, 0.5]]);
  const g = tf.grad((e: import("@tensorflow/tfjs").Tensor) => tripletSemiHardLoss([0, 0, 1, 1, 0], e as import("@tensorflow/tfjs").Tensor2D, 1))(emb);
  const values = await g.data();
  assert.ok(values.every(Number.isFinite), `gradient ${Array.from(values)}`);
  assert.ok(values.some((v) => v !== 0), "the gradient is not all zeros");
  emb.dispose();
  g.dispose();
});

test("pairwiseDistance matches Euclidean distances with a zero diagonal, and leaks no tensor", async () => {
  const tf = await getTf();
  const before = tf.memory().numTensors;
  const x = tf.tensor2d([[0, 0], [3, 4], [1, 1]]);
  const d = pairwiseDistance(x);
  const v = Array.from(await d.data());
  const want = [0, 5, Math.SQRT2, 5, 0, Math.sqrt(13), Math.SQRT2, Math.sqrt(13), 0];
  v.forEach((got, i) => assert.ok(Math.abs(got - want[i]) < 1e-5, `entry ${i}: ${got} vs ${want[i]}`));
  x.dispose();
  d.dispose();
  const y = tf.tensor2d([[0, 1], [1, 0], [0, 0.9]]);
  tripletSemiHardLoss([0, 1, 0], y, 1).dispose();
  y.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test("the gradient (custom gather gradient included) matches finite differences of the reference", async () => {
  const tf = await getTf();
  const { labels, emb } = randomBatch(8, 3, 3, 11);
  const x = tf.tensor2d(emb);
  const g = tf.grad((e: import("@tensorflow/tfjs").Tensor) => tripletSemiHardLoss(labels, e as import("@tensorflow/tfjs").Tensor2D, 0.8))(x);
  const got = await g.data();
  x.dispose();
  g.dispose();
  const h = 1e-4;
  let checked = 0;
  for (let i = 0; i < 8; i++)
    for (let k = 0; k < 3; k++) {
      const plus = emb.map((r) => r.slice());
      const minus = emb.map((r) => r.slice());
      plus[i][k] += h;
      minus[i][k] -= h;
      const numeric = (referenceLoss(labels, plus, 0.8) - referenceLoss(labels, minus, 0.8)) / (2 * h);
      assert.ok(Math.abs(numeric - got[i * 3 + k]) < 2e-3, `d loss / d x[${i}][${k}]: ${got[i * 3 + k]} vs numeric ${numeric}`);
      checked++;
    }
  assert.equal(checked, 24);
  assert.ok(Array.from(got).some((v) => Math.abs(v) > 1e-3), "a non-trivial gradient was checked");
});
