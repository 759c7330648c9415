import { test } from "node:test";
import * as assert from "node:assert/strict";
import { getTf } from "../lib/backbone/tf";
import { evaluate } from "../lib/evaluate";
import { exactSearch } from "../lib/rank";
import { embed, trainTripletHead } from "../lib/learn";
import { isCbirError } from "../lib/errors";
import { clusters } from "./learn.fixtures";

const train = clusters(30, 5, 48, 1);
const testSet = clusters(15, 5, 48, 2);
const mapOf = async (m: typeof testSet.m) => evaluate(await exactSearch(m, "loo", { metric: "cosine", k: Infinity, labels: testSet.labelMap })).mAP;

test("a triplet head trained on clustered features raises test mAP; embed gives unit vectors and a new fingerprint", async () => {
  const tf = await getTf();
  const before = tf.memory().numTensors;
  const logs: string[] = [];
  const head = await trainTripletHead(train.m, train.labels, { epochs: 15, learningRate: 3e-3, hiddenUnits: 128, embeddingDim: 32, seed: 3, reporter: { log: (l) => logs.push(l) } });
  try {
    const e = embed(head, testSet.m);
    assert.equal(e.dim, 32);
    assert.deepEqual(e.ids, testSet.m.ids);
    for (let i = 0; i < e.ids.length; i++) {
      const norm = Math.hypot(...e.data.subarray(i * 32, (i + 1) * 32));
      assert.ok(Math.abs(norm - 1) < 1e-4, `row ${i} has norm ${norm}`);
    }
    assert.notEqual(e.fingerprint.id, testSet.m.fingerprint.id);
    assert.deepEqual(e.fingerprint.parts.reducers, [`triplet32:${head.weightsHash}`]);
    const mapBefore = await mapOf(testSet.m);
    const mapAfter = await mapOf(e);
    assert.ok(mapAfter > mapBefore + 0.05, `mAP before ${mapBefore.toFixed(3)}, after ${mapAfter.toFixed(3)}`);
    // history: one record per epoch run, the kept epoch is the one with the lowest validation loss
    const h = head.history!;
    assert.ok(h.epochs.length >= 1 && h.epochs.length <= 15);
    const best = h.epochs.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
    assert.ok(Math.abs(h.bestValLoss - best.valLoss) < 1e-4, `best ${h.bestValLoss} vs min ${best.valLoss}`);
    assert.ok(h.epochs.every((r) => Number.isFinite(r.loss) && Number.isFinite(r.valLoss) && r.learningRate > 0));
    assert.ok(h.epochs[h.epochs.length - 1].loss < h.epochs[0].loss, "training loss went down");
    assert.ok(logs.some((l) => l.startsWith("epoch 1/15")), "progress is reported through the reporter");
  } finally {
    head.dispose();
  }
  assert.equal(tf.memory().numTensors, before, "no tensor outlives the head");
});

test("embed refuses features from another pipeline and of another dimension", async () => {
  const head = await trainTripletHead(train.m, train.labels, { epochs: 1, hiddenUnits: 16, embeddingDim: 8 });
  try {
    const other = clusters(3, 2, 48, 5, { backbone: "synthetic:other" });
    assert.throws(() => embed(head, other.m), (e: unknown) => isCbirError(e) && e.code === "E_FINGERPRINT_MISMATCH" && /backbone/.test(e.message));
    const wrongDim = { ...testSet.m, dim: 24 };
    assert.throws(() => embed(head, wrongDim), /Expected 48 \(the head's input\) for features dimension but received 24/);
  } finally {
    head.dispose();
  }
});

test("early stopping keeps the best epoch's weights: re-evaluating gives the recorded best validation loss", async () => {
  // a tiny learning rate after a big one makes later epochs no better; patience 1 stops quickly
  const head = await trainTripletHead(train.m, train.labels, { epochs: 30, patience: 1, learningRate: 0.05, warmupEpochs: 0, decay: "constant", hiddenUnits: 32, embeddingDim: 8, seed: 7 });
  try {
    const h = head.history!;
    if (h.stoppedEarly) assert.ok(h.bestEpoch < h.epochs.length, `best ${h.bestEpoch} of ${h.epochs.length}`);
    assert.equal(h.epochs[h.bestEpoch - 1].valLoss, h.bestValLoss);
  } finally {
    head.dispose();
  }
});

test("training options are validated with the usual message", async () => {
  await assert.rejects(trainTripletHead(train.m, train.labels, { margin: -1 }), /Expected number > 0 for margin but received -1 of type number/);
  await assert.rejects(trainTripletHead(train.m, train.labels, { decay: "linear" as never }), /Expected one of cosine, exponential, constant for decay/);
  await assert.rejects(trainTripletHead(train.m, train.labels.slice(1)), /Expected 150 labels \(one per row\) for labels/);
  const oneClass = train.labels.map(() => "same");
  await assert.rejects(trainTripletHead(train.m, oneClass), /at least 2 classes/);
});
