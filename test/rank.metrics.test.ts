/**
 * The metric registry (lib/rank/metrics): a metric defined in this file alone joins the registry at run
 * time and runs through `cbir eval`'s library entry (rankAndEvaluate), the config and the engine.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { makeFingerprint } from "../lib/fingerprint";
import type { FeatureMatrix } from "../lib/types";
import { rankAndEvaluate, evaluate } from "../lib/evaluate/index";
import { PIPELINE_METRICS, resolveConfig } from "../lib/config";
import { ExactIndex, FEATURE_METRICS, HNSW_METRICS, METRICS, VECTOR_METRICS, exactSearch, higherIsBetter, registerMetric, topK, vectorMetric, type ScoreContext, type VectorMetric } from "../lib/rank";

// the type checker learns the name the same way a metric outside lib/ would announce it
declare module "../lib/rank/metrics/index" {
  interface RegisteredMetricNames {
    "toy-inner": true;
  }
}

/** Maximum inner product: the raw dot products, no normalisation; hits weigh 1 in query expansion. */
const toyInner: VectorMetric = {
  name: "toy-inner",
  higherIsBetter: true,
  onFeatures: true,
  describe: "raw inner product (test metric)",
  prepare: (data) => ({ data }),
  finish(_ctx: ScoreContext, _dots: Float32Array) {},
};

const m: FeatureMatrix = {
  ids: ["a0", "a1", "a2", "b0", "b1", "b2"],
  dim: 3,
  data: Float32Array.from([3, 0, 0, 2, 0.5, 0, 1, 0, 0.2, 0, 2, 1, 0.1, 3, 0, 0, 1, 2]),
  fingerprint: makeFingerprint({ backbone: "toy" }),
};
const labels = new Map(m.ids.map((id) => [id, id[0]] as const));

/** Brute force: row i against every other row by the raw dot product, ties to the lower row. */
function bruteForce(): string[][] {
  const n = m.ids.length;
  return m.ids.map((_, i) => {
    const s = Float32Array.from({ length: n }, (_, j) => {
      let v = 0;
      for (let k = 0; k < m.dim; k++) v += m.data[i * m.dim + k] * m.data[j * m.dim + k];
      return v;
    });
    return topK(s, n, true, i).map((j) => m.ids[j]);
  });
}

test("a metric registered from a test file runs through rankAndEvaluate, the engine and the config", async () => {
  assert.ok(!METRICS.includes("toy-inner"));
  registerMetric(toyInner);
  for (const list of [METRICS, VECTOR_METRICS, FEATURE_METRICS, PIPELINE_METRICS]) assert.ok((list as readonly string[]).includes("toy-inner"));
  assert.ok(!(HNSW_METRICS as readonly string[]).includes("toy-inner"), "no usearch distance: exact search only");
  assert.equal(METRICS[METRICS.length - 1], "ssim-image", "image metrics stay last");
  assert.equal(higherIsBetter("toy-inner"), true);
  assert.equal(vectorMetric("toy-inner"), toyInner);
  assert.equal(resolveConfig({ metric: "toy-inner" }).search.metric, "toy-inner");

  const { rankings, evaluation } = await rankAndEvaluate(m, { metric: "toy-inner", labels, k: [1, 2], keep: 5 });
  assert.deepEqual(rankings.map((r) => r.hits.map((h) => h.id)), bruteForce());
  assert.equal(rankings[0].metric, "toy-inner");
  assert.equal(rankings[0].hits[0].score, 6, "a0 · a1 = 3 x 2");
  assert.deepEqual(evaluation, evaluate(await exactSearch(m, "loo", { metric: "toy-inner", k: Infinity, labels }), { k: [1, 2] }));
  // every kernel and encoding scores it: ONNX Runtime's Gemm and i8 codes with refine give the same rankings
  assert.deepEqual(await exactSearch(m, "loo", { metric: "toy-inner", k: 5, kernel: "onnx" }), await exactSearch(m, "loo", { metric: "toy-inner", k: 5 }));
  const i8 = await ExactIndex.create(m, { metric: "toy-inner", vectors: "i8", refine: 5 });
  assert.deepEqual((await i8.search(m, { k: 5, leaveOneOut: true })).map((r) => r.hits.map((h) => h.id)), bruteForce());
  await i8.dispose();
  // query expansion without expansionWeight averages plainly: a0's top 1 is a1, so a0 + a1 = (5, 0.5, 0) / 2
  const qe = await exactSearch(m, "loo", { metric: "toy-inner", k: 1, queryExpansion: 1, augmentDatabase: false });
  assert.ok(Math.abs(qe[0].hits[0].score - (2.5 * 2 + 0.25 * 0.5)) < 1e-6, String(qe[0].hits[0].score));
});

test("registerMetric refuses a taken name and an incomplete metric", () => {
  assert.throws(() => registerMetric({ ...toyInner, name: "cosine" }), /already registered/);
  assert.throws(() => registerMetric({ ...toyInner, name: "ssim-image" }), /already registered/);
  assert.throws(() => registerMetric({ ...toyInner, name: "Bad Name" }), /lower-case/);
  assert.throws(() => registerMetric({ ...toyInner, name: "toy-half", finish: undefined as never }), /no finish function/);
  assert.throws(() => vectorMetric("ssim-image"), /Expected one of cosine, euclidean/);
});
