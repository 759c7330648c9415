import { test } from "node:test";
import assert from "node:assert/strict";
import { makeFingerprint } from "../lib/fingerprint";
import type { FeatureMatrix } from "../lib/types";
import { ExactIndex, HnswIndex, exactSearch } from "../lib/rank";

function randomMatrix(n: number, d: number, seed: number, prefix = "img"): FeatureMatrix {
  let s = seed;
  const data = new Float32Array(n * d);
  for (let i = 0; i < data.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    data[i] = s / 2 ** 32 - 0.5;
  }
  return { ids: Array.from({ length: n }, (_, i) => `${prefix}${i}`), dim: d, data, fingerprint: makeFingerprint({ backbone: "rand" }) };
}

test("ONNX Runtime kernel gives the same rankings as the JS kernel", async () => {
  const m = randomMatrix(300, 48, 1);
  for (const metric of ["cosine", "euclidean", "ssim-features"] as const) {
    const js = await exactSearch(m, "loo", { kernel: "js", metric, k: 10 });
    const ort = await exactSearch(m, "loo", { metric, k: 10, kernel: "onnx" });
    for (let i = 0; i < js.length; i++) {
      assert.deepEqual(ort[i].hits.map((h) => h.id), js[i].hits.map((h) => h.id), `${metric} query ${i}`);
      ort[i].hits.forEach((h, j) => assert.ok(Math.abs(h.score - js[i].hits[j].score) < 1e-4));
    }
  }
});

test("ExactIndex serves repeated external queries, with query expansion, on both kernels", async () => {
  const db = randomMatrix(200, 16, 2);
  const q = randomMatrix(5, 16, 3, "q");
  const want = await exactSearch(db, q, { kernel: "js", k: 5, queryExpansion: 2 });
  for (const kernel of ["js", "onnx"] as const) {
    const index = await ExactIndex.create(db, { kernel });
    assert.equal(index.kernel, kernel);
    const got = await index.search(q, { k: 5, queryExpansion: 2 });
    assert.deepEqual(got.map((r) => r.hits.map((h) => h.id)), want.map((r) => r.hits.map((h) => h.id)));
    // the second call reuses the augmented database rows computed by the first
    const again = await index.search(q, { k: 5, queryExpansion: 2 });
    again.forEach((r, i) => r.hits.forEach((h, j) => assert.ok(Math.abs(h.score - want[i].hits[j].score) < 1e-4)));
    const queryOnly = await index.search(q, { k: 5, queryExpansion: 2, augmentDatabase: false });
    const wantQueryOnly = await exactSearch(db, q, { kernel: "js", k: 5, queryExpansion: 2, augmentDatabase: false });
    assert.deepEqual(queryOnly.map((r) => r.hits.map((h) => h.id)), wantQueryOnly.map((r) => r.hits.map((h) => h.id)));
    await index.dispose();
  }
});

test("HNSW (usearch) finds nearly all exact neighbours on a small collection", async () => {
  const m = randomMatrix(400, 32, 4);
  const exact = await exactSearch(m, "loo", { kernel: "js", k: 5 });
  const h = HnswIndex.build(m, { expansionSearch: 128 });
  assert.equal(h.size, 400);
  const approx = h.search(m, { k: 5, leaveOneOut: true });
  let found = 0;
  approx.forEach((r, i) => {
    assert.ok(!r.hits.some((x) => x.id === r.query), "self excluded");
    const want = new Set(exact[i].hits.map((x) => x.id));
    found += r.hits.filter((x) => want.has(x.id)).length;
  });
  assert.ok(found / (400 * 5) > 0.95, `recall ${found / 2000}`);
  assert.ok(Math.abs(approx[0].hits[0].score - exact[0].hits[0].score) < 1e-4, "cosine score, not usearch's distance");
});
