import { test } from "node:test";
import assert from "node:assert/strict";
import { getTf, listLayers, loadBackbone, loadLayersModel, truncateAt, tfBackendName } from "../lib/backbone";
import { readBundledModelJson, nsfwjsModelsDir } from "../lib/backbone/nsfwjs";
import * as path from "node:path";

test("getTf sets up the wasm backend once, silently", async () => {
  const logged: unknown[] = [];
  const orig = console.warn;
  console.warn = (...a: unknown[]) => logged.push(a);
  try {
    const tf = await getTf();
    const again = await getTf();
    assert.equal(tf, again);
    assert.ok(["wasm", "tensorflow"].includes(tfBackendName()), tfBackendName());
    tf.tidy(() => tf.ones([2, 2]).add(1).dataSync());
  } finally {
    console.warn = orig;
  }
  assert.deepEqual(logged, []);
});

test("bundled model scripts are read without nsfwjs's loader", () => {
  const json = readBundledModelJson(path.join(nsfwjsModelsDir(), "mobilenet_v2", "model.min.js"));
  assert.ok(Array.isArray(json.weightsManifest));
});

test("nsfwjs/mobilenet_v2 cut at out_relu: 7x7x1280, no tensor leak, stable hash", async () => {
  const tf = await getTf();
  const logs: string[] = [];
  const b = await loadBackbone("nsfwjs/mobilenet_v2", { runtime: "tfjs", reporter: { log: (l) => logs.push(l) } });
  assert.equal(b.id, "nsfwjs:mobilenet_v2");
  assert.equal(b.layer, "out_relu");
  assert.deepEqual(b.inputSize, [224, 224]);
  assert.equal(b.preprocessing, "unit");
  assert.equal(b.runtime, "tfjs");
  assert.deepEqual(b.outputShape, [7, 7, 1280]);
  assert.match(b.weightsHash, /^[0-9a-f]{64}$/);
  assert.ok(logs.some((l) => l.includes("7x7x1280")));
  const before = tf.memory().numTensors;
  const x = new Float32Array(2 * 224 * 224 * 3);
  for (let i = 0; i < x.length; i++) x[i] = ((i * 7919) % 255) / 255;
  const y = await b.infer(x, 2);
  assert.equal(y.length, 2 * 7 * 7 * 1280);
  assert.ok(y.some((v) => v > 0));
  // two different images give different features; the same image the same ones
  assert.notDeepEqual(y.subarray(0, 100), y.subarray(62720, 62820));
  const y2 = await b.infer(x.subarray(0, 224 * 224 * 3), 1);
  assert.deepEqual(y2, y.subarray(0, 62720));
  assert.equal(tf.memory().numTensors, before);
  await assert.rejects(b.infer(new Float32Array(10), 1), /Expected Float32Array of 1 x 224 x 224 x 3/);
  const again = await loadBackbone("nsfwjs/mobilenet_v2", { layer: "block_16_project_BN" });
  assert.equal(again.weightsHash === b.weightsHash, false, "fewer layers, fewer weight bytes hashed");
  assert.deepEqual(again.outputShape, [7, 7, 320]);
  again.dispose();
  b.dispose();
  assert.ok(tf.memory().numTensors < before, "dispose releases the weights");
});

test("nsfwjs/inception_v3 defaults to mixed9 at 299", async () => {
  const b = await loadBackbone("nsfwjs/inception_v3");
  assert.equal(b.layer, "mixed9");
  assert.deepEqual(b.inputSize, [299, 299]);
  assert.deepEqual(b.outputShape, [8, 8, 2048]);
  b.dispose();
});

test("nsfwjs/mobilenet_v2_mid is a graph model cut at Conv_1", async () => {
  const tf = await getTf();
  const notices: string[] = [];
  const b = await loadBackbone("nsfwjs/mobilenet_v2_mid", { runtime: "onnx", reporter: { notice: (n) => notices.push(n.message) } });
  assert.equal(b.runtime, "tfjs");
  assert.ok(notices.some((n) => /graph model.*running it with tfjs/.test(n)), notices.join("\n"));
  assert.equal(b.layer, "Conv_1");
  assert.deepEqual(b.outputShape, [7, 7, 1792]);
  const before = tf.memory().numTensors;
  const y = await b.infer(new Float32Array(224 * 224 * 3).fill(0.5), 1);
  assert.equal(y.length, 7 * 7 * 1792);
  assert.equal(tf.memory().numTensors, before);
  b.dispose();
  const layers = await listLayers("nsfwjs/mobilenet_v2_mid");
  const conv1 = layers.find((l) => l.name === "Conv_1/Relu6");
  assert.deepEqual(conv1?.outputShape, [7, 7, 1792]);
  assert.ok(!layers.some((l) => l.name.includes("prediction")), "the 5-class head is not offered");
  await assert.rejects(loadBackbone("nsfwjs/mobilenet_v2_mid", { inputSize: 160 }), /fixed 224x224 input/);
});

test("the nsfwjs head is dropped and unknown layers list close names", async () => {
  const layers = await listLayers("nsfwjs/mobilenet_v2");
  assert.equal(layers[layers.length - 1].name, "out_relu");
  assert.ok(!layers.some((l) => l.type === "Dense"));
  const conv = layers.find((l) => l.name === "Conv_1");
  assert.deepEqual(conv, { name: "Conv_1", type: "Conv2D", outputShape: [7, 7, 1280], params: 320 * 1280 });
  await assert.rejects(loadBackbone("nsfwjs/mobilenet_v2", { layer: "out_relu6" }), (e: Error & { code?: string }) => {
    assert.equal(e.code, "E_UNKNOWN_LAYER");
    assert.match(e.message, /Closest names: out_relu/);
    return true;
  });
  await assert.rejects(loadBackbone("nsfwjs/mobilenet_v2", { layer: "dense_3" }), /E_UNKNOWN_LAYER|not in nsfwjs\/mobilenet_v2/);
  await assert.rejects(loadBackbone("nsfwjs/mobilenet_v2_mid", { layer: "Conv_2" }), /Closest names: .*Conv_1/);
});

test("loadLayersModel + truncateAt cut a full model; unknown names are E_UNKNOWN_LAYER", async () => {
  const tf = await getTf();
  const full = await loadLayersModel("nsfwjs/mobilenet_v2");
  const cut = truncateAt(full, "block_5_add");
  assert.deepEqual(cut.outputs[0].shape, [null, 28, 28, 32]);
  const y = tf.tidy(() => (cut.predict(tf.zeros([1, 224, 224, 3])) as import("@tensorflow/tfjs").Tensor).shape);
  assert.deepEqual(y, [1, 28, 28, 32]);
  assert.throws(() => truncateAt(full, "block_5_ad"), (e: Error & { code?: string }) => e.code === "E_UNKNOWN_LAYER" && /block_5_add/.test(e.message));
  full.dispose();
});

test("options are validated and merged over the defaults", async () => {
  await assert.rejects(loadBackbone("nsfwjs/mobilenet_v2", { preprocessing: "caffee" as never }), /Expected one of caffe/);
  await assert.rejects(loadBackbone("nsfwjs/mobilenet_v2", { runtime: "gpu" as never }), /Expected one of tfjs, onnx for runtime/);
  await assert.rejects(loadBackbone("nsfwjs/mobilenet_v3"), (e: Error & { code?: string }) => e.code === "E_UNKNOWN_MODEL" && /nsfwjs\/mobilenet_v2/.test(e.message));
  const b = await loadBackbone("nsfwjs/mobilenet_v2", { inputSize: 160, preprocessing: "tf", resize: "area", layer: "block_13_expand_relu" });
  assert.deepEqual(b.inputSize, [160, 160]);
  assert.equal(b.preprocessing, "tf");
  assert.equal(b.resize, "area");
  assert.deepEqual(b.outputShape, [10, 10, 576]);
  b.dispose();
});
