import { test } from "node:test";
import assert from "node:assert/strict";
import { makeFingerprint } from "../lib/fingerprint";
import type { FeatureMatrix } from "../lib/types";
import type { Notice } from "../lib/report";
import {
  applyCenter,
  applyPostprocess,
  concatFeatures,
  fitCenter,
  fitPca,
  applyPca,
  fuseWithHistogram,
  l2normalize,
  parsePostSteps,
  postFromJSON,
  postprocess,
  postToJSON,
  symmetricEigen,
} from "../lib/reduce";

const fp = makeFingerprint({ backbone: "test" });
const mat = (rows: number[][], ids = rows.map((_, i) => `r${i}`)): FeatureMatrix => ({
  ids,
  dim: rows[0].length,
  data: Float32Array.from(rows.flat()),
  fingerprint: fp,
});
const close = (a: ArrayLike<number>, b: number[], eps = 1e-5) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) < eps, `[${i}] ${a[i]} vs ${b[i]}`);
};

test("l2normalize: unit rows, zero rows stay zero, fingerprint gains 'l2'", () => {
  const out = l2normalize(mat([[3, 4], [0, 0]]));
  close(out.data, [0.6, 0.8, 0, 0]);
  assert.deepEqual(out.fingerprint.parts.reducers, ["l2"]);
  assert.notEqual(out.fingerprint.id, fp.id);
});

test("centre: fit on the database, apply to it and to queries", () => {
  const db = mat([[1, 2], [3, 4]]);
  const s = fitCenter(db);
  close(s.mean, [2, 3]);
  const c = applyCenter(db, s);
  close(c.data, [-1, -1, 1, 1]);
  assert.match(c.fingerprint.parts.reducers[0], /^center:[0-9a-f]{16}$/);
  const q = applyCenter(mat([[2, 3]], ["q"]), s);
  close(q.data, [0, 0]);
  assert.equal(q.fingerprint.id, c.fingerprint.id, "query and database share the fitted state, so the fingerprint");
  const other = applyCenter(db, fitCenter(mat([[0, 0], [1, 1]])));
  assert.notEqual(other.fingerprint.id, c.fingerprint.id, "a mean fitted on other data changes the fingerprint");
});

test("symmetric eigen-decomposition: known spectrum and A v = lambda v", () => {
  const { values } = symmetricEigen([Float64Array.from([2, 1, 0]), Float64Array.from([1, 2, 0]), Float64Array.from([0, 0, 3])]);
  close(values, [3, 3, 1], 1e-12);
  let s = 7;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  const n = 20;
  const A = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) A[i][j] = A[j][i] = rnd();
  const e = symmetricEigen(A);
  for (let c = 0; c < n; c++) {
    for (let i = 0; i < n; i++) {
      let av = 0;
      for (let j = 0; j < n; j++) av += A[i][j] * e.vectors[c][j];
      assert.ok(Math.abs(av - e.values[c] * e.vectors[c][i]) < 1e-10);
    }
    if (c > 0) assert.ok(e.values[c] <= e.values[c - 1]);
  }
});

test("PCA on points along a line: one axis, clamped with a notice, whitening gives unit variance", () => {
  const db = mat([[1, 1], [2, 2], [3, 3]]);
  const notices: Notice[] = [];
  const s = fitPca(db, { dims: 2 }, { notice: (n) => notices.push(n) });
  assert.equal(s.dims, 1);
  assert.equal(notices.length, 1);
  assert.match(notices[0].message, /span only 1: keeping 1/);
  close(s.components, [Math.SQRT1_2, Math.SQRT1_2]);
  close(applyPca(db, s).data, [-Math.SQRT2, 0, Math.SQRT2]);
  const w = fitPca(db, { dims: 1, whiten: true });
  close(applyPca(db, w).data, [-1, 0, 1]);
  assert.notEqual(applyPca(db, w).fingerprint.id, applyPca(db, s).fingerprint.id);
});

test("PCA: the Gram path (n < d) and the covariance path (n >= d) agree", () => {
  let s = 3;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  const rows = Array.from({ length: 6 }, () => Array.from({ length: 10 }, rnd));
  const wide = mat(rows);
  const pWide = fitPca(wide, { dims: 3 });
  // the same data padded with copies of the rows (variance scales but axes stay) goes through the covariance path
  const tall = mat([...rows, ...rows]);
  const pTall = fitPca(tall, { dims: 3 });
  for (let c = 0; c < 3; c++)
    for (let j = 0; j < 10; j++) assert.ok(Math.abs(pWide.components[c * 10 + j] - pTall.components[c * 10 + j]) < 1e-4);
});

test("postprocess fits, applyPostprocess reproduces it for queries and after a JSON round trip", () => {
  const db = mat([[1, 0, 2], [0, 1, 3], [2, 2, 0], [1, 3, 1]]);
  const { features, state } = postprocess(db, ["center", { pca: 2 }, "l2"]);
  assert.equal(features.dim, 2);
  assert.equal(features.fingerprint.parts.reducers.length, 3);
  const again = applyPostprocess(db, postFromJSON(JSON.parse(JSON.stringify(postToJSON(state)))));
  close(again.data, Array.from(features.data));
  assert.equal(again.fingerprint.id, features.fingerprint.id);
  const q = applyPostprocess(mat([[1, 1, 1]], ["q"]), state);
  assert.equal(q.fingerprint.id, features.fingerprint.id);
});

test("parsePostSteps reads the CLI form", () => {
  assert.deepEqual(parsePostSteps("center,l2"), ["center", "l2"]);
  assert.deepEqual(parsePostSteps("pcaw64"), [{ pca: 64, whiten: true }]);
  assert.deepEqual(parsePostSteps("none"), []);
  assert.throws(() => parsePostSteps("center,zca"), /post-processing step/);
});

test("concatenation and histogram fusion: blocks normalised, weighted, matched by id", () => {
  const a = mat([[3, 4], [1, 0]], ["x", "y"]);
  const b = { ...mat([[0, 2], [5, 0]], ["y", "x"]), fingerprint: makeFingerprint({ backbone: "hist:rgb8" }) };
  const c = concatFeatures([a, b]);
  close(c.data, [0.6, 0.8, 1, 0, 1, 0, 0, 1]);
  const f = fuseWithHistogram(a, b, { weight: 0.25 });
  close(f.data, [0.6, 0.8, 0.25, 0, 1, 0, 0, 0.25]);
  assert.notEqual(f.fingerprint.id, c.fingerprint.id, "the weight is part of the fingerprint");
  assert.throws(() => concatFeatures([a, mat([[1, 1]], ["x"])]), /no vector for 'y'/);
});

test("concatenation keeps rows with a repeated id apart when the blocks list the same ids in order", () => {
  // two query files called 001.jpg once both ranked as the second one: rows were joined by id
  const a = mat([[1, 0], [0, 1]], ["001.jpg", "001.jpg"]);
  const b = { ...mat([[2, 0], [0, 3]], ["001.jpg", "001.jpg"]), fingerprint: makeFingerprint({ backbone: "hist" }) };
  close(concatFeatures([a, b]).data, [1, 0, 1, 0, 0, 1, 0, 1]);
  const shuffled = { ...mat([[0, 3], [2, 0], [1, 1]], ["001.jpg", "001.jpg", "z"]), fingerprint: b.fingerprint };
  assert.throws(() => concatFeatures([mat([[1, 0], [0, 1], [1, 1]], ["001.jpg", "z", "001.jpg"]), shuffled]), /holds '001.jpg' twice/);
});

test("regularised whitening: hand-computed scales; tiny sets fall back to centring", () => {
  // mean 0; variances (n - 1 = 3) along x and y: 18 / 3 = 6 and 2 / 3, their mean 10 / 3
  const db = mat([[3, 0, 0], [-3, 0, 0], [0, 1, 0], [0, -1, 0]]);
  const plain = fitPca(db, { dims: 2, whiten: true });
  close(plain.variances, [6, 2 / 3]);
  const shrunk = fitPca(db, { dims: 2, whiten: true, shrinkage: 1 });
  const out = applyPca(db, shrunk).data;
  // row 0 projects to +-3 on the first axis: 3 / sqrt(6 + 10/3); row 2 to +-1 on the second: 1 / sqrt(2/3 + 10/3) = 0.5
  close([Math.abs(out[0]), Math.abs(out[1]), Math.abs(out[4]), Math.abs(out[5])], [3 / Math.sqrt(28 / 3), 0, 0, 0.5]);
  // plain whitening: unit variance, so +-3 / sqrt(6) and +-1 / sqrt(2/3)
  const w = applyPca(db, plain).data;
  close([Math.abs(w[0]), Math.abs(w[5])], [3 / Math.sqrt(6), 1 / Math.sqrt(2 / 3)]);
  assert.notEqual(applyPca(db, shrunk).fingerprint.id, applyPca(db, plain).fingerprint.id);
  const two = postprocess(mat([[1, 2, 3], [3, 2, 1]]), ["l2", { pca: 32, whiten: true, shrinkage: 1 }, "l2"]);
  assert.equal(two.state.steps[1].kind, "center", "two vectors: centring instead of whitening");
  assert.throws(() => fitPca(db, { dims: 2, whiten: true, shrinkage: -1 }), /shrinkage/);
});

const lcg = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;

test("properties: l2 is idempotent, centring leaves zero column means, whitened covariance is the identity", () => {
  const rnd = lcg(11);
  const m = mat(Array.from({ length: 12 }, () => [rnd() * 4 + 1, rnd() + rnd() * 3, rnd() * 0.5 - 2]));
  const once = l2normalize(m);
  close(l2normalize(once).data, Array.from(once.data), 1e-6);
  const c = applyCenter(m, fitCenter(m));
  for (let j = 0; j < 3; j++) {
    let s = 0;
    for (let i = 0; i < 12; i++) s += c.data[i * 3 + j];
    assert.ok(Math.abs(s / 12) < 1e-5, `column ${j} mean ${s / 12}`);
  }
  const wm = applyPca(m, fitPca(m, { dims: 3, whiten: true }));
  for (let a = 0; a < 3; a++)
    for (let b = 0; b < 3; b++) {
      let s = 0;
      for (let i = 0; i < 12; i++) s += wm.data[i * 3 + a] * wm.data[i * 3 + b];
      assert.ok(Math.abs(s / 11 - (a === b ? 1 : 0)) < 1e-4, `cov[${a}][${b}] = ${s / 11}`);
    }
});

test("the fuse step on a hand-computed 2-row example, with and without centring; JSON round trip", () => {
  // [CNN 3,4 | hist 1,0] and [CNN 0,5 | hist 0,1], split 2, weight 0.5
  const raw = mat([[3, 4, 1, 0], [0, 5, 0, 1]], ["a", "b"]);
  // centred: unit CNN blocks [0.6, 0.8], [0, 1] minus their mean -> +-[0.3, -0.1], unit -> +-[3, -1] / sqrt(10);
  // unit histograms minus their mean -> +-[0.5, -0.5], unit and weighted -> +-[1, -1] / (2 sqrt 2); the whole
  // vector has squared norm 1 + 1/4, so row a is [3/sqrt(12.5), -1/sqrt(12.5), 1/sqrt(10), -1/sqrt(10)]
  const a = [3 / Math.sqrt(12.5), -1 / Math.sqrt(12.5), 1 / Math.sqrt(10), -1 / Math.sqrt(10)];
  const { features, state } = postprocess(raw, [{ fuse: { split: 2, weight: 0.5, center: true } }]);
  close(features.data, [...a, ...a.map((v) => -v)]);
  assert.match(features.fingerprint.parts.reducers.at(-1)!, /^fuse2w0.5c:/);
  const back = postFromJSON(JSON.parse(JSON.stringify(postToJSON(state))));
  assert.deepEqual(Array.from(applyPostprocess(raw, back).data), Array.from(features.data));
  // without centring: [0.6, 0.8, 0.5, 0] and [0, 1, 0, 0.5], each divided by sqrt(1.25)
  const plain = postprocess(raw, [{ fuse: { split: 2, weight: 0.5 } }]).features;
  const r = Math.sqrt(1.25);
  close(plain.data, [0.6 / r, 0.8 / r, 0.5 / r, 0, 0, 1 / r, 0, 0.5 / r]);
  assert.deepEqual(parsePostSteps("fuse3w0.5c"), [{ fuse: { split: 3, weight: 0.5, center: true } }]);
  assert.deepEqual(parsePostSteps("fuse3w0.5cpw32"), [{ fuse: { split: 3, weight: 0.5, center: true, whiten: 32 } }]);
  assert.throws(() => postprocess(raw, [{ fuse: { split: 5, weight: 0.5 } }]), /fuse split/);
});

test("the fuse step with whitening: the CNN block is the regularised whitening of the unit CNN block; JSON keeps it", () => {
  const rnd = lcg(5);
  const rows = Array.from({ length: 8 }, () => Array.from({ length: 6 }, rnd));
  const raw = mat(rows.map((r) => [...r.slice(0, 4), ...r.slice(4).map(Math.abs)]));
  const { features, state } = postprocess(raw, [{ fuse: { split: 4, weight: 0.25, center: true, whiten: 3 } }]);
  assert.equal(features.dim, 3 + 2);
  assert.match(features.fingerprint.parts.reducers.at(-1)!, /^fuse4w0.25cpw3:/);
  const fuseState = state.steps[0];
  assert.ok(fuseState.kind === "fuse" && fuseState.pca, "a whitening was fitted");
  assert.equal(fuseState.pca!.shrinkage, 1);
  assert.equal(fuseState.pca!.dims, 3);
  for (let i = 0; i < 8; i++) {
    const row = features.data.subarray(i * 5, i * 5 + 5);
    assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-5, "rows are unit");
  }
  // weight 0 leaves the CNN part alone: it is then l2(whiten(l2(cnn))), with the whitening fitted by the step
  const cnnOnly = postprocess(raw, [{ fuse: { split: 4, weight: 0, center: true, whiten: 3 } }]);
  const s0 = cnnOnly.state.steps[0];
  assert.ok(s0.kind === "fuse" && s0.pca);
  const cnnUnit = l2normalize(mat(rows.map((r) => r.slice(0, 4))));
  const expectedCnn = l2normalize(applyPca(cnnUnit, s0.pca!)).data;
  for (let i = 0; i < 8; i++) {
    close(cnnOnly.features.data.subarray(i * 5, i * 5 + 3), Array.from(expectedCnn.subarray(i * 3, i * 3 + 3)));
    close(cnnOnly.features.data.subarray(i * 5 + 3, i * 5 + 5), [0, 0]);
  }
  const back = postFromJSON(JSON.parse(JSON.stringify(postToJSON(state))));
  assert.deepEqual(Array.from(applyPostprocess(raw, back).data), Array.from(features.data));
  // two images cannot teach a whitening: the step centres instead, without an error
  const tiny = postprocess(mat(rows.slice(0, 2)), [{ fuse: { split: 4, weight: 0.25, center: true, whiten: 3 } }]);
  assert.equal(tiny.features.dim, 6);
  // a fuse state written before version 2 is refused with the fix
  const old = postToJSON(state);
  delete (old.steps[0] as Record<string, unknown>).version;
  assert.throws(() => postFromJSON(old), (e: Error & { code?: string }) => e.code === "E_FINGERPRINT_MISMATCH" && /--rebuild/.test(e.message + String((e as { fix?: string }).fix)));
});

test("the manifest JSON keeps its kinds and fields (existing indexes must load)", () => {
  const db = mat([[1, 0, 2, 1], [0, 1, 3, 0], [2, 2, 0, 1], [1, 3, 1, 2]]);
  const { state } = postprocess(db, ["center", "l2", { pca: 2, whiten: true, shrinkage: 1 }, { fuse: { split: 1, weight: 0.5, center: true } }]);
  const json = postToJSON(state);
  assert.deepEqual(json.steps.map((s) => Object.keys(s)), [
    ["kind", "mean"],
    ["kind"],
    ["kind", "whiten", "shrinkage", "dims", "inputDim", "mean", "components", "variances"],
    ["kind", "version", "split", "weight", "mean", "histMean"],
  ]);
  assert.deepEqual(postToJSON(postFromJSON(JSON.parse(JSON.stringify(json)))), json);
  assert.throws(() => postFromJSON({ steps: [{ kind: "zca" }] }), /Expected l2, center, pca or fuse for post-processing step kind/);
});
