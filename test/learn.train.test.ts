import { test } from "node:test";
import * as assert from "node:assert/strict";
import { getTf } from "../lib/backbone/tf";
import { learningRateAt, resolveTrainOptions, stratifiedSplit, seededRandom, trainLoop } from "../lib/learn/train";
import { chunk } from "../lib/learn/triplet";

test("learning rate: linear warm-up to the peak, then cosine decay to 1% at the last step", () => {
  const o = resolveTrainOptions({ epochs: 10, warmupEpochs: 2, learningRate: 0.01 });
  const steps = 5;
  assert.equal(learningRateAt(0, steps, o), 0.01 / 10);
  assert.equal(learningRateAt(9, steps, o), 0.01);
  for (let s = 1; s < 10; s++) assert.ok(learningRateAt(s, steps, o) > learningRateAt(s - 1, steps, o), "increasing during warm-up");
  for (let s = 11; s < 50; s++) assert.ok(learningRateAt(s, steps, o) <= learningRateAt(s - 1, steps, o), "non-increasing after");
  assert.ok(Math.abs(learningRateAt(50, steps, o) - 0.0001) < 1e-12);
  const exp = resolveTrainOptions({ epochs: 10, warmupEpochs: 0, learningRate: 1, decay: "exponential", decayRate: 0.5 });
  assert.equal(learningRateAt(10, 5, exp), 0.25);
  const flat = resolveTrainOptions({ warmupEpochs: 0, decay: "constant", learningRate: 0.3 });
  assert.equal(learningRateAt(123, 4, flat), 0.3);
});

test("early stopping stops after `patience` epochs without improvement and restores the best epoch's weights", async () => {
  const tf = await getTf();
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 1, useBias: false })] });
  const scripted = [5, 4, 3, 3.5, 3.2, 3.1, 1, 0.5];
  let epoch = 0;
  const kernel = () => Array.from(model.getWeights()[0].dataSync());
  const weightsAt: number[][] = [];
  const history = await trainLoop(
    {
      model,
      stage: "test",
      batches: () => [[0]],
      batchLoss: () => tf.sum(tf.square(model.apply(tf.ones([1, 2])) as import("@tensorflow/tfjs").Tensor)) as import("@tensorflow/tfjs").Scalar,
      validationLoss: () => {
        weightsAt.push(kernel());
        return scripted[epoch++];
      },
    },
    resolveTrainOptions({ epochs: 8, patience: 3, learningRate: 0.1, warmupEpochs: 0 }),
  );
  assert.equal(history.epochs.length, 6, "epochs 4, 5, 6 did not beat epoch 3: stop after epoch 6");
  assert.equal(history.stoppedEarly, true);
  assert.equal(history.bestEpoch, 3);
  assert.equal(history.bestValLoss, 3);
  assert.deepEqual(kernel(), weightsAt[2], "the weights are those seen when epoch 3 was validated");
  assert.notDeepEqual(weightsAt[5], weightsAt[2], "training did change them after epoch 3");
  model.dispose();
});

test("stratified split keeps every class on both sides and is reproducible", () => {
  const labels = Int32Array.from({ length: 40 }, (_, i) => i % 4);
  const a = stratifiedSplit(labels, 0.25, seededRandom(1));
  const b = stratifiedSplit(labels, 0.25, seededRandom(1));
  assert.deepEqual(a, b);
  assert.equal(a.val.length, 12); // round(10 * 0.25) = 3 per class (2.5 rounds up)
  assert.equal(new Set([...a.train, ...a.val]).size, 40);
  for (let c = 0; c < 4; c++) assert.equal(a.val.filter((i) => labels[i] === c).length, 3);
});

test("chunk merges a small last batch into the previous one (a batch of one image has no pair)", () => {
  assert.deepEqual(chunk([1, 2, 3, 4, 5], 4), [[1, 2, 3, 4, 5]]);
  assert.deepEqual(chunk([1, 2, 3, 4, 5, 6], 4), [[1, 2, 3, 4], [5, 6]]);
});

test("train options: invalid values are rejected with the usual wording", () => {
  assert.throws(() => resolveTrainOptions({ epochs: 0 }), /Expected positive integer for epochs but received 0 of type number/);
  assert.throws(() => resolveTrainOptions({ validationFraction: 1 }), /Expected number in \(0, 1\) for validationFraction/);
  assert.throws(() => resolveTrainOptions({ learningRate: -1 }), /Expected number > 0 for learningRate/);
});
