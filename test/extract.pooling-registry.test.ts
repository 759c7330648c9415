/** A pooling registered from this file alone: config validation, pooledDim/poolFeatures and extractFeatures use it. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { extractFeatures } from "../lib/extract/features";
import { poolFeatures, pooledDim, poolingNames, registerPooling, type Pooling, type PoolingMethod } from "../lib/extract/pooling/index";
import { resolveConfig } from "../lib/config";
import { Pipeline } from "../lib/pipeline/pipeline";
import { scanFolder } from "../lib/prepare/scan";
import type { Backbone } from "../lib/backbone/types";

/** Toy pooling: per image, the sum over every value and the number of values (2 numbers, whatever the shape). */
const sumAndCount: PoolingMethod = {
  name: "toy-sum-count",
  outputDim: () => 2,
  pool(out, n, shape) {
    const per = shape.reduce((a, b) => a * b, 1);
    const res = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < per; j++) s += out[i * per + j];
      res[i * 2] = s;
      res[i * 2 + 1] = per;
    }
    return res;
  },
};
registerPooling(sumAndCount);
const toy = sumAndCount.name as Pooling;

/** Per image a 2x2x3 map holding 1, 2, ..., 12 (so the toy pooling gives [78, 12]). */
const countingBackbone: Backbone = {
  id: "fake:counting",
  layer: "counting",
  inputSize: [8, 8],
  preprocessing: "unit",
  resize: "area",
  outputShape: [2, 2, 3],
  weightsHash: "none",
  runtime: "tfjs",
  async infer(_batch, n) {
    const out = new Float32Array(n * 12);
    for (let i = 0; i < n * 12; i++) out[i] = (i % 12) + 1;
    return out;
  },
  dispose() {},
};

test("a registered pooling is a valid name for config validation and the pooling functions", () => {
  assert.ok(poolingNames().includes("toy-sum-count"));
  assert.equal(resolveConfig({ pooling: toy }).features.pooling, "toy-sum-count");
  assert.equal(pooledDim([7, 7, 64], toy), 2);
  assert.deepEqual([...poolFeatures(Float32Array.from([1, 2, 3, 4]), 1, [2, 2], toy)], [10, 4]);
  assert.throws(() => resolveConfig({ pooling: "toy-unknown" as Pooling }), /Expected one of flatten, gap, gmp, gem, toy-sum-count for pooling/);
});

test("registering a taken name is refused", () => {
  assert.throws(() => registerPooling({ ...sumAndCount }), { code: "E_BAD_OPTION" });
  assert.throws(() => registerPooling({ ...sumAndCount, name: "gem" }), { code: "E_BAD_OPTION" });
});

test("extractFeatures pools with the registered pooling and names it in the fingerprint", async () => {
  const { items } = scanFolder(path.resolve(__dirname, "../data/sample"));
  const two = items.slice(0, 2);
  const r = await extractFeatures(countingBackbone, two, { pooling: toy, batchSize: 2 });
  assert.equal(r.features.dim, 2);
  assert.deepEqual([...r.features.data], [78, 12, 78, 12]);
  assert.equal(r.features.fingerprint.parts.pooling, "toy-sum-count");
});

test("the pipeline cbir eval runs (resolveConfig -> Pipeline.open -> extract) pools with the registered pooling", async () => {
  const { items } = scanFolder(path.resolve(__dirname, "../data/sample"));
  const c = resolveConfig({ pooling: toy, histogramWeight: 0, whiten: 0 });
  const pipeline = await Pipeline.open(c, { backbone: countingBackbone });
  const db = await pipeline.extract(items.slice(0, 3));
  assert.equal(db.features.dim, 2);
  assert.deepEqual([...db.features.data], [78, 12, 78, 12, 78, 12]);
  assert.equal(pipeline.record.pooling, "toy-sum-count");
});
