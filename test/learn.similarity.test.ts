import { test } from "node:test";
import * as assert from "node:assert/strict";
import { getTf } from "../lib/backbone/tf";
import { evaluate } from "../lib/evaluate";
import { exactSearch } from "../lib/rank";
import { LEARNED_METRIC, predictPairs, rankBySimilarity, similarityTarget, trainSimilarityHead, DEFAULT_TARGET_WEIGHTS } from "../lib/learn";
import { resolveTargetWeights, squaredDifferences } from "../lib/learn/similarity";
import { isCbirError } from "../lib/errors";
import { clusters } from "./learn.fixtures";

// distractor dimensions with twice the noise: cosine weighs them fully, a learned score can ignore them
const train = clusters(30, 4, 32, 1, { distractorNoise: 2 });
const testSet = clusters(10, 4, 32, 2, { distractorNoise: 2 });

test("target rule: 0.6 x same class + 0.2 x max(0, SSIM) + 0.2 x (1 - d/2), in [0, 1]", async () => {
  const w = { ...DEFAULT_TARGET_WEIGHTS };
  assert.deepEqual(w, { wClass: 0.6, wSsim: 0.2, wFeature: 0.2 });
  assert.ok(Math.abs(similarityTarget(true, 0, 1, w) - 1) < 1e-12, "identical images of one class: 1");
  assert.equal(similarityTarget(false, 2, -0.5, w), 0, "opposite vectors, negative SSIM, other class: 0");
  assert.ok(Math.abs(similarityTarget(true, 1, 0.5, w) - (0.6 + 0.1 + 0.1)) < 1e-12);
  assert.ok(Math.abs(similarityTarget(false, 0.4, 0.3, w) - (0.06 + 0.16)) < 1e-12);
  // without images, the SSIM weight moves to the feature term
  assert.deepEqual(resolveTargetWeights({}, false), { wClass: 0.6, wSsim: 0, wFeature: 0.4 });
  assert.throws(() => resolveTargetWeights({ wClass: 0.9 }), /Expected wClass \+ wSsim \+ wFeature = 1 for target weights/);
});

test("squared differences are the regressor's input", async () => {
  const d = squaredDifferences(train.m, [{ i: 0, j: 1 }]);
  for (let k = 0; k < 32; k++) assert.ok(Math.abs(d[k] - (train.m.data[k] - train.m.data[32 + k]) ** 2) < 1e-6);
});

test("a learned similarity ranks the test set better than cosine, through rankBySimilarity and evaluate", async () => {
  const tf = await getTf();
  const before = tf.memory().numTensors;
  const head = await trainSimilarityHead(train.m, train.labels, { epochs: 12, seed: 2, learningRate: 2e-3 });
  try {
    const rankings = rankBySimilarity(head, testSet.m, undefined, { k: Infinity, labels: testSet.labelMap });
    assert.equal(rankings.length, 40);
    for (const r of rankings) {
      assert.equal(r.metric, LEARNED_METRIC);
      assert.equal(r.higherIsBetter, true);
      assert.equal(r.hits.length, 39, "every other image, never the query itself");
      assert.ok(!r.hits.some((h) => h.id === r.query));
      for (let t = 1; t < r.hits.length; t++) assert.ok(r.hits[t - 1].score >= r.hits[t].score, "best first");
      assert.equal(r.queryLabel, testSet.labelMap.get(r.query));
    }
    // scores are the regressor's predictions, and symmetric in the two images
    const [s01, s10] = predictPairs(head, testSet.m, [{ i: 0, j: 1 }, { i: 1, j: 0 }]);
    assert.equal(s01, s10);
    assert.equal(rankings[0].hits.find((h) => h.id === testSet.m.ids[1])!.score, s01);
    const cosine = evaluate(await exactSearch(testSet.m, "loo", { metric: "cosine", k: Infinity, labels: testSet.labelMap })).mAP;
    const learned = evaluate(rankings).mAP;
    assert.ok(learned > cosine + 0.05, `learned ${learned.toFixed(3)} vs cosine ${cosine.toFixed(3)}`);
    // external queries: k hits each, the database unchanged
    const ext = rankBySimilarity(head, testSet.m, train.m, { k: 5, labels: testSet.labelMap, queryLabels: train.labelMap });
    assert.equal(ext.length, 120);
    assert.ok(ext.every((r) => r.hits.length === 5 && r.queryLabel !== undefined));
    assert.ok(head.history!.epochs.length >= 1);
  } finally {
    head.dispose();
  }
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
});

test("ranking refuses features of another pipeline", async () => {
  const head = await trainSimilarityHead(train.m, train.labels, { epochs: 1, pairs: { count: 100 } });
  try {
    const other = clusters(3, 2, 32, 5, { backbone: "synthetic:other" });
    assert.throws(() => rankBySimilarity(head, other.m), (e: unknown) => isCbirError(e) && e.code === "E_FINGERPRINT_MISMATCH");
    assert.throws(() => rankBySimilarity(head, testSet.m, other.m), (e: unknown) => isCbirError(e) && e.code === "E_FINGERPRINT_MISMATCH");
  } finally {
    head.dispose();
  }
});

test("training uses the SSIM callback when given (targets change with it)", async () => {
  const calls: [number, number][] = [];
  const head = await trainSimilarityHead(train.m, train.labels, {
    epochs: 1,
    pairs: { count: 50 },
    ssim: (i, j) => {
      calls.push([i, j]);
      return 0.5;
    },
  });
  head.dispose();
  assert.ok(calls.length >= 50, `${calls.length} SSIM calls`);
  assert.ok(calls.every(([i, j]) => i >= 0 && i < 120 && j >= 0 && j < 120 && i !== j), "indices are rows of the training matrix");
  assert.deepEqual(head.target, DEFAULT_TARGET_WEIGHTS);
});
