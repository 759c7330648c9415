import { test } from "node:test";
import assert from "node:assert/strict";
import { makeFingerprint } from "../lib/fingerprint";
import type { FeatureMatrix } from "../lib/types";
import { exactSearch, topK, vectorSsim, higherIsBetter, METRICS, dotBlock } from "../lib/rank";
import { dhashBits, hammingDistance } from "../lib/extract/dhash";

const fp = makeFingerprint({ backbone: "test" });
const mat = (rows: number[][], ids = rows.map((_, i) => `r${i}`), fingerprint = fp): FeatureMatrix => ({
  ids,
  dim: rows[0].length,
  data: Float32Array.from(rows.flat()),
  fingerprint,
});
const ids = (r: { hits: { id: string }[] }) => r.hits.map((h) => h.id);

test("cosine leave-one-out: self excluded, ties broken by database order", async () => {
  const m = mat([[1, 0], [1, 0], [0, 1], [1, 1]], ["a", "b", "c", "d"]);
  const r = await exactSearch(m, "loo", { metric: "cosine", k: Infinity, labels: new Map([["a", "x"], ["b", "x"], ["c", "y"], ["d", "y"]]) });
  assert.deepEqual(ids(r[0]), ["b", "d", "c"]);
  assert.deepEqual(ids(r[2]), ["d", "a", "b"], "a and b tie at 0: a first");
  assert.ok(Math.abs(r[0].hits[1].score - Math.SQRT1_2) < 1e-6);
  assert.equal(r[0].hits[0].score, 1);
  assert.equal(r[0].queryLabel, "x");
  assert.equal(r[0].hits[1].label, "y");
  assert.equal(r[0].metric, "cosine");
  assert.equal(r[0].higherIsBetter, true);
});

test("k limits the hits; k = n - 1 is the full ranking", async () => {
  const m = mat([[1, 0], [0.9, 0.1], [0, 1], [0.5, 0.5], [0.2, 0.8]]);
  assert.equal((await exactSearch(m, "loo", { k: 2 }))[0].hits.length, 2);
  assert.equal((await exactSearch(m, "loo", { k: 4 }))[0].hits.length, 4);
  assert.equal((await exactSearch(m, "loo", { k: Infinity }))[0].hits.length, 4);
});

test("euclidean and squared euclidean: exact distances, smallest first", async () => {
  const m = mat([[0, 0], [3, 4], [1, 0]]);
  const e = await exactSearch(m, "loo", { metric: "euclidean", k: Infinity });
  assert.deepEqual(ids(e[0]), ["r2", "r1"]);
  assert.ok(Math.abs(e[0].hits[1].score - 5) < 1e-5);
  assert.equal(e[0].higherIsBetter, false);
  const s = await exactSearch(m, "loo", { metric: "sqeuclidean", k: Infinity });
  assert.ok(Math.abs(s[1].hits[0].score - 20) < 1e-4, "(3-1)^2 + 4^2 = 20");
});

test("ssim-features through the kernel equals the direct global-statistics SSIM", async () => {
  const rows = [[0.1, 0.5, 0.9, 0.3], [0.2, 0.4, 0.8, 0.1], [0.9, 0.1, 0.2, 0.7], [0.3, 0.3, 0.6, 0.2]];
  const m = mat(rows);
  const range = 0.9 - 0.1;
  const r = await exactSearch(m, "loo", { metric: "ssim-features", k: Infinity });
  for (const h of r[0].hits) {
    const j = Number(h.id.slice(1));
    assert.ok(Math.abs(h.score - vectorSsim(rows[0], rows[j], range)) < 1e-5);
  }
  assert.ok(Math.abs(vectorSsim(rows[1], rows[1], 1) - 1) < 1e-12, "SSIM of a vector with itself is 1");
  const se = await exactSearch(m, "loo", { metric: "ssim-over-euclidean", k: Infinity });
  const h = se[0].hits.find((x) => x.id === "r2")!;
  const dist = Math.hypot(...rows[0].map((v, k) => v - rows[2][k]));
  assert.ok(Math.abs(h.score - vectorSsim(rows[0], rows[2], range) / dist) < 1e-4);
});

test("dhash: bits from neighbour differences and Hamming ranking", async () => {
  // 3 x 2 grey pixels (size 2): row 0 = 9 5 7 -> bits 1 0; row 1 = 1 2 0 -> bits 0 1
  assert.deepEqual(Array.from(dhashBits([9, 5, 7, 1, 2, 0], 2)), [1, 0, 0, 1]);
  assert.equal(hammingDistance([1, 0, 0, 1], [1, 1, 0, 0]), 2);
  const m = mat([[1, 0, 0, 1], [1, 1, 0, 0], [1, 0, 0, 0]]);
  const r = await exactSearch(m, "loo", { metric: "dhash", k: Infinity });
  assert.deepEqual(ids(r[0]), ["r2", "r1"]);
  assert.deepEqual(r[0].hits.map((h) => h.score), [1, 2]);
});

test("every metric ranks in its own direction: similarities high first, distances low first", async () => {
  const expected: Record<string, boolean> = { cosine: true, euclidean: false, sqeuclidean: false, "ssim-features": true, "ssim-over-euclidean": true, dhash: false, "ssim-image": true };
  for (const m of METRICS) if (m in expected) assert.equal(higherIsBetter(m), expected[m], m);
  assert.deepEqual(Object.keys(expected).filter((m) => !(METRICS as readonly string[]).includes(m)), [], "every built-in metric is registered");
  // and the ranking follows it: the nearer row comes first under a distance and a similarity alike
  const m = mat([[1, 0], [0.9, 0.1], [0, 1]]);
  for (const metric of ["cosine", "euclidean"] as const) assert.deepEqual(ids((await exactSearch(m, "loo", { metric, k: 1 }))[0]), ["r1"], metric);
  assert.throws(() => higherIsBetter("manhattan" as never), /Expected one of cosine/);
});

test("external queries:  labels, and refusal of another pipeline's vectors", async () => {
  const db = mat([[1, 0], [0, 1]], ["a", "b"]);
  const q = mat([[0.9, 0.2]], ["q"]);
  const r = await exactSearch(db, q, { k: 1, labels: new Map([["a", "x"]]), queryLabels: new Map([["q", "x"]]) });
  assert.deepEqual(ids(r[0]), ["a"]);
  assert.equal(r[0].queryLabel, "x");
  const other = mat([[1, 0]], ["q"], makeFingerprint({ backbone: "test", layer: "other" }));
  await assert.rejects(exactSearch(db, other), (e: Error & { code?: string }) => e.code === "E_FINGERPRINT_MISMATCH" && /layer/.test(e.message));
});

test("query expansion re-queries with the query plus its top hit, weighted by similarity^alpha", async () => {
  const deg = (a: number) => [Math.cos((a * Math.PI) / 180), Math.sin((a * Math.PI) / 180)];
  const db = mat([deg(30), deg(60), deg(-50)], ["b", "c", "e"]);
  const q = mat([deg(0)], ["q"]);
  assert.deepEqual(ids((await exactSearch(db, q, { k: 3 }))[0]), ["b", "e", "c"]);
  // expanded query q + cos(30) b points at about 16 degrees: c (44 away) now beats e (66 away)
  const r = (await exactSearch(db, q, { k: 3, queryExpansion: 1, augmentDatabase: false }))[0];
  assert.deepEqual(ids(r), ["b", "c", "e"]);
  const w = Math.cos(Math.PI / 6);
  const expanded = [1 + w * deg(30)[0], w * deg(30)[1]];
  const angle = (Math.atan2(expanded[1], expanded[0]) * 180) / Math.PI;
  assert.ok(Math.abs(r.hits[1].score - Math.cos(((60 - angle) * Math.PI) / 180)) < 1e-5, "hit scores are cosines to the weighted expansion");
  // alpha 0 is the plain mean: the query points at exactly 15 degrees
  const plain = (await exactSearch(db, q, { k: 3, queryExpansion: 1, queryExpansionAlpha: 0, augmentDatabase: false }))[0];
  assert.ok(Math.abs(plain.hits[0].score - Math.cos((15 * Math.PI) / 180)) < 1e-5);
  await assert.rejects(exactSearch(db, q, { queryExpansion: 1, queryExpansionAlpha: -1 }), /queryExpansionAlpha/);
});

test("database-side augmentation expands every database row with its own top hits, itself excluded", async () => {
  const rows = [[1, 0], [0.8, 0.6], [0, 1], [-0.6, 0.8]];
  const db = mat(rows, ["a", "b", "c", "d"]);
  const q = mat([[0.6, 0.8]], ["q"]);
  const cos = (x: number[], y: number[]) => (x[0] * y[0] + x[1] * y[1]) / Math.hypot(...x) / Math.hypot(...y);
  // expand(v, pool) = v + sum of its top-1 neighbour in pool (self excluded) weighted by cosine (alpha 1)
  const expand = (v: number[], self: number) => {
    let best = -1;
    rows.forEach((r, j) => {
      if (j !== self && (best < 0 || cos(v, r) > cos(v, rows[best]))) best = j;
    });
    const w = Math.max(0, cos(v, rows[best]));
    return [v[0] + w * rows[best][0], v[1] + w * rows[best][1]];
  };
  const augmented = rows.map((r, i) => expand(r, i));
  const qx = expand([0.6, 0.8], -1);
  const want = augmented.map((r, j) => [j, cos(qx, r)] as const).sort((x, y) => y[1] - x[1]);
  const got = (await exactSearch(db, q, { k: 4, queryExpansion: 1 }))[0];
  assert.deepEqual(ids(got), want.map(([j]) => db.ids[j]));
  got.hits.forEach((h, i) => assert.ok(Math.abs(h.score - want[i][1]) < 1e-5, `score of ${h.id}`));
  // leave-one-out: queries and database are the same augmented rows
  const loo = await exactSearch(db, "loo", { k: 3, queryExpansion: 1 });
  assert.ok(Math.abs(loo[0].hits[0].score - Math.max(...[1, 2, 3].map((j) => cos(augmented[0], augmented[j])))) < 1e-5);
});

test("topK: best first, stable ties, skip, lower-is-better", async () => {
  const s = Float32Array.from([0.5, 0.9, 0.5, 0.1, 0.9]);
  assert.deepEqual(topK(s, 3, true), [1, 4, 0]);
  assert.deepEqual(topK(s, 2, false), [3, 0]);
  assert.deepEqual(topK(s, 10, true, 1), [4, 0, 2, 3]);
  const big = Float32Array.from({ length: 1000 }, (_, i) => (i * 37) % 101);
  const heap = topK(big, 5, true);
  const sorted = Array.from(big.keys()).sort((a, b) => big[b] - big[a] || a - b).slice(0, 5);
  assert.deepEqual(heap, sorted, "heap path equals a full sort");
});

test("dotBlock equals naive dot products on every tile path", async () => {
  const nA = 7, nB = 5, d = 9;
  const A = Float32Array.from({ length: nA * d }, (_, i) => Math.sin(i));
  const B = Float32Array.from({ length: nB * d }, (_, i) => Math.cos(i * 0.7));
  const out = new Float32Array(nA * nB);
  dotBlock(A, nA, B, nB, d, out);
  for (let i = 0; i < nA; i++)
    for (let j = 0; j < nB; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += A[i * d + k] * B[j * d + k];
      assert.ok(Math.abs(out[i * nB + j] - s) < 1e-5);
    }
});

