import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type * as tfTypes from "@tensorflow/tfjs";
import { getTf, listLayers, loadBackbone } from "../lib/backbone";

/** Writes a layers model as the converter does: model.json plus one weight file per group. */
async function saveModel(model: tfTypes.LayersModel, dir: string, shards = 2): Promise<void> {
  const tf = await getTf();
  fs.mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      const data = new Uint8Array(a.weightData as ArrayBuffer);
      const cut = Math.ceil(data.length / shards / 4) * 4;
      const paths: string[] = [];
      for (let i = 0; i < shards; i++) {
        const p = `group1-shard${i + 1}of${shards}.bin`;
        fs.writeFileSync(path.join(dir, p), data.subarray(i * cut, Math.min(data.length, (i + 1) * cut)));
        paths.push(p);
      }
      const json = { format: "layers-model", modelTopology: a.modelTopology, weightsManifest: [{ paths, weights: a.weightSpecs }] };
      fs.writeFileSync(path.join(dir, "model.json"), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
}

async function smallModel() {
  const tf = await getTf();
  const input = tf.input({ shape: [32, 32, 3], name: "image" });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: "same", name: "c1", activation: "relu" }).apply(input) as tfTypes.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: "c1_bn" }).apply(x) as tfTypes.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 2, name: "pool1" }).apply(x) as tfTypes.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: "same", name: "c2", activation: "relu" }).apply(x) as tfTypes.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: "gap" }).apply(x) as tfTypes.SymbolicTensor;
  x = tf.layers.dense({ units: 4, name: "logits" }).apply(x) as tfTypes.SymbolicTensor;
  return tf.model({ inputs: input, outputs: x, name: "small" });
}

const made: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-backbone-"));
  made.push(d);
  return d;
};
after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

test("a layers model saved to disk reloads with the same outputs at any cut", async () => {
  const tf = await getTf();
  const model = await smallModel();
  const dir = tmp();
  await saveModel(model, dir);
  const x = new Float32Array(32 * 32 * 3).map((_, i) => Math.sin(i));
  const expected = tf.tidy(() => {
    const cut = tf.model({ inputs: model.inputs, outputs: model.getLayer("c2").output as tfTypes.SymbolicTensor });
    return (cut.predict(tf.tensor4d(x, [1, 32, 32, 3])) as tfTypes.Tensor).dataSync().slice();
  });
  const b = await loadBackbone(path.join(dir, "model.json"), { layer: "c2" });
  assert.equal(b.id, `file:${path.join(dir, "model.json")}`);
  assert.deepEqual(b.outputShape, [16, 16, 16]);
  const y = await b.infer(x, 1);
  assert.equal(y.length, expected.length);
  for (let i = 0; i < y.length; i++) assert.ok(Math.abs(y[i] - expected[i]) < 1e-5, `value ${i}`);
  b.dispose();

  // default cut: the layer feeding the head (global pooling), and the folder works as well as the file
  const d = await loadBackbone(dir);
  assert.equal(d.layer, "c2");
  assert.equal(d.preprocessing, "tf");
  assert.deepEqual(d.inputSize, [32, 32]);
  d.dispose();
  const layers = await listLayers(dir);
  assert.deepEqual(
    layers.map((l) => [l.name, l.type]),
    [["image", "InputLayer"], ["c1", "Conv2D"], ["c1_bn", "BatchNormalization"], ["pool1", "MaxPooling2D"], ["c2", "Conv2D"], ["gap", "GlobalAveragePooling2D"], ["logits", "Dense"]],
  );
  assert.equal(layers.find((l) => l.name === "logits")?.params, 16 * 4 + 4);
  model.dispose();
});

test("a truncated model.json is E_MODEL_FILE naming the file", async () => {
  const model = await smallModel();
  const dir = tmp();
  await saveModel(model, dir);
  model.dispose();
  const file = path.join(dir, "model.json");
  const text = fs.readFileSync(file, "utf8");
  fs.writeFileSync(file, text.slice(0, Math.floor(text.length / 2)));
  await assert.rejects(loadBackbone(file), (e: Error & { code?: string; file?: string }) => {
    assert.equal(e.code, "E_MODEL_FILE");
    assert.equal(e.file, file);
    assert.ok(e.message.includes(file));
    return true;
  });
});

test("a missing or short weight file is E_MODEL_FILE naming that file", async () => {
  const model = await smallModel();
  const dir = tmp();
  await saveModel(model, dir, 3);
  model.dispose();
  const second = path.join(dir, "group1-shard2of3.bin");
  const bytes = fs.readFileSync(second);
  fs.rmSync(second);
  await assert.rejects(loadBackbone(dir, { layer: "c2" }), (e: Error & { code?: string; file?: string }) => {
    assert.equal(e.code, "E_MODEL_FILE");
    assert.equal(e.file, second);
    assert.match(e.message, /missing/);
    return true;
  });
  fs.writeFileSync(second, bytes.subarray(0, bytes.length - 8));
  await assert.rejects(loadBackbone(dir, { layer: "c2" }), (e: Error & { code?: string; file?: string }) => {
    assert.equal(e.code, "E_MODEL_FILE");
    assert.equal(e.file, second);
    assert.match(e.message, /truncated/);
    return true;
  });
  const last = path.join(dir, "group1-shard3of3.bin");
  fs.writeFileSync(second, bytes);
  fs.writeFileSync(last, fs.readFileSync(last).subarray(0, 4));
  await assert.rejects(loadBackbone(dir, { layer: "c2" }), (e: Error & { file?: string }) => e.file === last);
});

test("an unsupported layer type is E_UNSUPPORTED_LAYER naming it", async () => {
  const model = await smallModel();
  const dir = tmp();
  await saveModel(model, dir);
  model.dispose();
  const file = path.join(dir, "model.json");
  const json = JSON.parse(fs.readFileSync(file, "utf8"));
  const topo = json.modelTopology.model_config ?? json.modelTopology;
  const pool = topo.config.layers.find((l: { name: string }) => l.name === "pool1");
  pool.class_name = "FancyPooling2D";
  fs.writeFileSync(file, JSON.stringify(json));
  await assert.rejects(loadBackbone(file, { layer: "c2" }), (e: Error & { code?: string }) => {
    assert.equal(e.code, "E_UNSUPPORTED_LAYER");
    assert.match(e.message, /'FancyPooling2D' \(layer 'pool1'\)/);
    return true;
  });
  // cutting before the unsupported layer needs only what comes before it
  const b = await loadBackbone(file, { layer: "c1_bn" });
  assert.deepEqual(b.outputShape, [32, 32, 8]);
  b.dispose();
});

test("a missing path is E_UNKNOWN_MODEL naming it", async () => {
  await assert.rejects(loadBackbone("/nonexistent/model.json"), (e: Error & { code?: string; file?: string }) => e.code === "E_UNKNOWN_MODEL" && e.file === "/nonexistent/model.json");
});

test("runtime onnx: used when the exporter handles the cut, else tfjs with a notice naming the reason", async () => {
  const tf = await getTf();
  const oldCache = process.env.CBIR_CACHE_DIR;
  process.env.CBIR_CACHE_DIR = tmp(); // the ONNX export cache must not go to the home folder
  try {
    const model = await smallModel();
    const dir = tmp();
    await saveModel(model, dir);
    model.dispose();
    const x = new Float32Array(32 * 32 * 3).map((_, i) => Math.cos(i));
    const ref = await loadBackbone(dir, { layer: "c2" });
    const expected = await ref.infer(x, 1);
    ref.dispose();
    const notices: string[] = [];
    const before = tf.memory().numTensors;
    const b = await loadBackbone(dir, { layer: "c2", runtime: "onnx", reporter: { notice: (n) => notices.push(n.message) } });
    if (b.runtime === "onnx") {
      assert.equal(tf.memory().numTensors, before, "the tfjs model is released once exported");
      const y = await b.infer(x, 1);
      for (let i = 0; i < y.length; i++) assert.ok(Math.abs(y[i] - expected[i]) < 1e-4);
    } else {
      assert.ok(notices.some((n) => /running .* with tfjs/.test(n)), "a fallback is announced");
    }
    b.dispose();

    // a layer type the exporter does not know: tfjs, with a notice naming it
    let exportable: readonly string[] = [];
    try {
      exportable = (require("../lib/backbone/onnx") as { EXPORTABLE_LAYERS: readonly string[] }).EXPORTABLE_LAYERS;
    } catch {
      /* no ONNX module: every model falls back */
    }
    if (exportable.includes("UpSampling2D")) return;
    const input = tf.input({ shape: [8, 8, 3], name: "image" });
    const up = tf.layers.upSampling2d({ size: [2, 2], name: "up" }).apply(input) as tfTypes.SymbolicTensor;
    const conv = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: "c" }).apply(up) as tfTypes.SymbolicTensor;
    const upModel = tf.model({ inputs: input, outputs: conv });
    const upDir = tmp();
    await saveModel(upModel, upDir, 1);
    upModel.dispose();
    const fallbackNotices: string[] = [];
    const f = await loadBackbone(upDir, { layer: "c", runtime: "onnx", reporter: { notice: (n) => fallbackNotices.push(n.message) } });
    assert.equal(f.runtime, "tfjs");
    assert.deepEqual(f.outputShape, [16, 16, 2]);
    assert.ok(fallbackNotices.some((n) => /UpSampling2D|onnx missing/i.test(n)), fallbackNotices.join("\n"));
    f.dispose();
  } finally {
    if (oldCache === undefined) delete process.env.CBIR_CACHE_DIR;
    else process.env.CBIR_CACHE_DIR = oldCache;
  }
});
