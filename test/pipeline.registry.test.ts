/**
 * The registries take entries defined outside lib/: a toy metric and a toy pooling, registered from this
 * file alone (one definition and one register call each), run through evaluateFolder (the library entry of `cbir eval`) and through `cbir eval` itself,
 * with no other edit anywhere.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { cliInProcess } from "./cli.fixtures";
import { evaluateFolder } from "../lib/pipeline/evaluate-folder";
import { registerMetric, type VectorMetric } from "../lib/rank/metrics/index";
import { registerPooling, type Pooling, type PoolingMethod } from "../lib/extract/pooling/index";
import { positionsAndChannels } from "../lib/extract/pooling/types";

declare module "../lib/rank/metrics/index" {
  interface RegisteredMetricNames {
    "toy-dot": true;
  }
}

const SAMPLE = path.resolve(__dirname, "..", "data", "sample");

/** The raw dot product. The pipeline's final vectors are L2-normalised, so it must rank exactly as cosine. */
const toyDot: VectorMetric = {
  name: "toy-dot",
  higherIsBetter: true,
  onFeatures: true,
  describe: "raw dot product (test metric)",
  prepare: (data) => ({ data }),
  finish() {},
};
registerMetric(toyDot);

/** The mean over positions, written again outside lib/: it must pool exactly as the built-in gap does. */
const toyMean: PoolingMethod = {
  name: "toy-mean",
  outputDim: (shape) => shape[shape.length - 1],
  pool(out, n, shape) {
    const { positions, channels } = positionsAndChannels(shape);
    const res = new Float32Array(n * channels);
    const acc = new Float64Array(channels);
    for (let i = 0; i < n; i++) {
      acc.fill(0);
      for (let s = 0; s < positions; s++) for (let c = 0; c < channels; c++) acc[c] += out[(i * positions + s) * channels + c];
      for (let c = 0; c < channels; c++) res[i * channels + c] = acc[c] / positions;
    }
    return res;
  },
};
registerPooling(toyMean);

const cbir = cliInProcess;

test("a metric registered from a test file ranks through evaluateFolder and cbir eval", { timeout: 300_000 }, async () => {
  const settings = { histogramWeight: 0, queryExpansion: 0 };
  const toy = await evaluateFolder(SAMPLE, { ...settings, metric: "toy-dot" }, { k: [1, 5] });
  const cosine = await evaluateFolder(SAMPLE, { ...settings, metric: "cosine" }, { k: [1, 5] });
  assert.equal(toy.settings.metric, "toy-dot");
  assert.deepEqual(toy.rankings.map((r) => r.hits.map((h) => h.id)), cosine.rankings.map((r) => r.hits.map((h) => h.id)), "dot products of unit vectors rank as cosine");
  assert.deepEqual(toy.evaluation.precisionAtK, cosine.evaluation.precisionAtK);
  assert.ok(Math.abs(toy.evaluation.mAP - cosine.evaluation.mAP) < 1e-9, `${toy.evaluation.mAP} vs ${cosine.evaluation.mAP}`);
  const run = await cbir(["eval", SAMPLE, "--metric", "toy-dot", "--hist-weight", "0", "--qe", "0", "--quiet"]);
  assert.equal(run.code, 0, run.out);
  assert.match(run.out, /, toy-dot, leave-one-out/, "the CLI offers and uses the registered metric");
  assert.match(run.out, new RegExp(`mAP ${cosine.evaluation.mAP.toFixed(3)}`));
});

test("a pooling registered from a test file pools through evaluateFolder and cbir eval", { timeout: 300_000 }, async () => {
  const toy = await evaluateFolder(SAMPLE, { pooling: "toy-mean" as Pooling }, { k: [1, 5] });
  const gap = await evaluateFolder(SAMPLE, { pooling: "gap" }, { k: [1, 5] });
  assert.equal(toy.settings.pooling, "toy-mean");
  assert.notEqual(toy.settings.fingerprint, gap.settings.fingerprint, "the pooling is part of the fingerprint");
  assert.deepEqual(toy.rankings.map((r) => r.hits.map((h) => h.id)), gap.rankings.map((r) => r.hits.map((h) => h.id)), "the mean over positions pools as gap");
  assert.deepEqual(toy.evaluation.precisionAtK, gap.evaluation.precisionAtK);
  assert.equal(toy.evaluation.mAP, gap.evaluation.mAP);
  const run = await cbir(["eval", SAMPLE, "--pool", "toy-mean", "--quiet"]);
  assert.equal(run.code, 0, run.out);
  assert.match(run.out, /, toy-mean -> 1280 values, post fuse768w0.25c,/, "the CLI offers and uses the registered pooling");
  assert.match(run.out, new RegExp(`mAP ${gap.evaluation.mAP.toFixed(3)}`));
});
