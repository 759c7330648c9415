import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type * as tfTypes from "@tensorflow/tfjs";
import { getTf, listLayers, loadBackbone } from "../lib/backbone";
import { buildArchitecture, loadH5wasm, seededRandom, type KerasArchitecture } from "../lib/backbone/keras";

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-keras-"));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

type Weights = { layer: string; names: string[]; arrays: { shape: number[]; data: Float32Array }[] }[];

/** Random weights for every weighted layer of a reduced-width architecture, named as Keras names them. */
async function randomKerasWeights(arch: KerasArchitecture, widthScale: number, seed: number): Promise<{ weights: Weights; model: tfTypes.LayersModel }> {
  const tf = await getTf();
  const model = buildArchitecture(tf, arch, { widthScale, inputSize: [32, 32] });
  const rand = seededRandom(seed);
  const weights: Weights = model.layers
    .filter((l) => l.weights.length)
    .map((l) => ({
      layer: l.name,
      names: l.weights.map((w) => `${l.name}/${(w.originalName ?? w.name).split("/").pop()}:0`),
      arrays: l.weights.map((w) => {
        const shape = w.shape as number[];
        const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => rand() - 0.5);
        // variances must stay positive
        if (/moving_variance/.test(w.originalName ?? w.name)) data.forEach((v, i) => (data[i] = 0.5 + Math.abs(v)));
        return { shape, data };
      }),
    }));
  return { weights, model };
}

/** Writes an .h5 the way Keras's save_weights does: layer_names, weight_names, `<layer>/<layer>/<w>:0`. */
async function writeKerasLayout(file: string, allLayerNames: string[], weights: Weights): Promise<void> {
  const h5 = await loadH5wasm();
  const f = new h5.File(file, "w");
  const fixed = (l: string[]) => `S${Math.max(1, ...l.map((s) => s.length))}`;
  f.create_attribute("layer_names", allLayerNames, [allLayerNames.length], fixed(allLayerNames));
  f.create_attribute("backend", "tensorflow");
  f.create_attribute("keras_version", "2.2.4");
  const byLayer = new Map(weights.map((w) => [w.layer, w]));
  for (const name of allLayerNames) {
    const g = f.create_group(name);
    const w = byLayer.get(name);
    if (!w) {
      g.create_attribute("weight_names", new Float32Array(0), [0]);
      continue;
    }
    g.create_attribute("weight_names", w.names, [w.names.length], fixed(w.names));
    w.names.forEach((wn, i) => {
      const [sub, leaf] = wn.split("/");
      const parent = (g.keys().includes(sub) ? g.get(sub) : g.create_group(sub)) as typeof g;
      parent.create_dataset({ name: leaf, data: w.arrays[i].data, shape: w.arrays[i].shape });
    });
  }
  f.close();
}

/** Plain-JS 3x3 "same" convolution + bias + ReLU, then 2x2 max pooling: block1 of VGG, as a reference. */
function referenceVggBlock1(x: Float32Array, size: number, w: Weights): Float32Array {
  const conv = (input: Float32Array, cin: number, k: Float32Array, b: Float32Array, cout: number) => {
    const out = new Float32Array(size * size * cout);
    for (let y = 0; y < size; y++)
      for (let xx = 0; xx < size; xx++)
        for (let o = 0; o < cout; o++) {
          let s = b[o];
          for (let dy = -1; dy <= 1; dy++)
            for (let dx = -1; dx <= 1; dx++) {
              const iy = y + dy, ix = xx + dx;
              if (iy < 0 || ix < 0 || iy >= size || ix >= size) continue;
              for (let c = 0; c < cin; c++) s += input[(iy * size + ix) * cin + c] * k[(((dy + 1) * 3 + (dx + 1)) * cin + c) * cout + o];
            }
          out[(y * size + xx) * cout + o] = Math.max(0, s);
        }
    return out;
  };
  const c1 = w.find((l) => l.layer === "block1_conv1")!;
  const c2 = w.find((l) => l.layer === "block1_conv2")!;
  const f = c1.arrays[0].shape[3];
  const a = conv(x, 3, c1.arrays[0].data, c1.arrays[1].data, f);
  const b = conv(a, f, c2.arrays[0].data, c2.arrays[1].data, f);
  const half = size / 2;
  const out = new Float32Array(half * half * f);
  for (let y = 0; y < half; y++)
    for (let xx = 0; xx < half; xx++)
      for (let o = 0; o < f; o++) {
        let m = -Infinity;
        for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) m = Math.max(m, b[((2 * y + dy) * size + 2 * xx + dx) * f + o]);
        out[(y * half + xx) * f + o] = m;
      }
  return out;
}

function assertClose(a: Float32Array, b: Float32Array, tol: number, what: string) {
  assert.equal(a.length, b.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  assert.ok(worst < tol, `${what}: relative difference ${worst}`);
}

test("output shapes of every architecture and cut, seeded random weights", async () => {
  const tf = await getTf();
  const before = tf.memory().numTensors;
  const cases: [string, string, number[]][] = [
    ["keras/mobilenet_v2", "out_relu", [7, 7, 1280]],
    ["keras/mobilenet_v2", "block_13_expand_relu", [14, 14, 576]],
    ["keras/vgg19", "block4_pool", [14, 14, 512]],
    ["keras/vgg16", "block5_pool", [7, 7, 512]],
    ["keras/resnet50", "conv5_block3_out", [7, 7, 2048]],
    ["keras/resnet50", "conv4_block6_out", [14, 14, 1024]],
  ];
  for (const [name, layer, shape] of cases) {
    const b = await loadBackbone(name, { weights: "random", seed: 7, layer });
    assert.deepEqual(b.outputShape, shape, `${name} ${layer}`);
    if (layer === "block4_pool" || layer === "out_relu") {
      const y = await b.infer(new Float32Array(224 * 224 * 3).map((_, i) => ((i * 31) % 255) - 128), 1);
      assert.equal(y.length, shape.reduce((a, c) => a * c, 1));
      assert.ok(y.some((v) => v > 0), "random features are not all zero");
    }
    b.dispose();
  }
  assert.equal(14 * 14 * 512, 100_352);
  assert.equal(tf.memory().numTensors, before, "no tensor survives dispose");
});

test("defaults, seeds and listing without weights", async () => {
  const a = await loadBackbone("keras/vgg19", { weights: "random", seed: 1, widthScale: 1 / 16 });
  const b = await loadBackbone("keras/vgg19", { weights: "random", seed: 1, widthScale: 1 / 16 });
  const c = await loadBackbone("keras/vgg19", { weights: "random", seed: 2, widthScale: 1 / 16 });
  assert.equal(a.layer, "block5_pool");
  assert.equal(a.preprocessing, "caffe");
  assert.deepEqual(a.inputSize, [224, 224]);
  assert.deepEqual(a.outputShape, [7, 7, 32]);
  assert.equal(a.weightsHash, b.weightsHash);
  assert.notEqual(a.weightsHash, c.weightsHash);
  assert.notEqual(a.id, c.id);
  [a, b, c].forEach((x) => x.dispose());
  const m = await loadBackbone("keras/mobilenet_v2", { weights: "random", widthScale: 0.25 });
  assert.equal(m.preprocessing, "tf");
  assert.equal(m.layer, "out_relu");
  m.dispose();

  const layers = await listLayers("keras/vgg19");
  const get = (n: string) => layers.find((l) => l.name === n);
  assert.deepEqual(get("block4_pool")?.outputShape, [14, 14, 512]);
  assert.deepEqual(get("block5_conv4")?.outputShape, [14, 14, 512]);
  assert.deepEqual(get("fc2"), { name: "fc2", type: "Dense", outputShape: [4096], params: 4096 * 4096 + 4096 });
  assert.equal(get("predictions")?.params, 4096 * 1000 + 1000);
  const resnet = await listLayers("keras/resnet50");
  assert.deepEqual(resnet.find((l) => l.name === "conv5_block3_out")?.outputShape, [7, 7, 2048]);
  assert.equal(resnet.find((l) => l.name === "conv1_conv")?.params, 7 * 7 * 3 * 64 + 64);
  await assert.rejects(loadBackbone("keras/vgg19", { weights: "random", layer: "block4_pol" }), /E_UNKNOWN_LAYER|Closest names: block4_pool/);
  await assert.rejects(loadBackbone("keras/vgg19", { weights: "random", layer: "fc1", inputSize: 160 }), /224x224 inputs only/);
});

test("a Keras-layout .h5 loads into a reduced-width VGG16 with Keras's names", async () => {
  const tf = await getTf();
  const scale = 1 / 16;
  const { weights, model } = await randomKerasWeights("vgg16", scale, 11);
  const file = path.join(tmpRoot, "vgg16_small_weights.h5");
  await writeKerasLayout(file, model.layers.map((l) => l.name), weights);

  const size = 16;
  const x = new Float32Array(size * size * 3).map((_, i) => Math.cos(i * 0.37) * 50);
  const b1 = await loadBackbone("keras/vgg16", { weights: file, widthScale: scale, layer: "block1_pool", inputSize: size });
  assert.deepEqual(b1.outputShape, [8, 8, 4]);
  assertClose(await b1.infer(x, 1), referenceVggBlock1(x, size, weights), 1e-4, "block1_pool vs plain-JS reference");
  b1.dispose();

  // deeper: against the same architecture given the arrays directly
  const ref = buildArchitecture(tf, "vgg16", { widthScale: scale, inputSize: [size, size] });
  for (const w of weights) ref.getLayer(w.layer).setWeights(w.arrays.map((a) => tf.tensor(a.data, a.shape)));
  const expected = tf.tidy(() => {
    const cut = tf.model({ inputs: ref.inputs, outputs: ref.getLayer("block3_conv3").output as tfTypes.SymbolicTensor });
    return (cut.predict(tf.tensor4d(x, [1, size, size, 3])) as tfTypes.Tensor).dataSync().slice() as Float32Array;
  });
  ref.dispose();
  model.dispose();
  // the file given as the model: architecture recognised from its name
  const b3 = await loadBackbone(file, { widthScale: scale, layer: "block3_conv3", inputSize: size });
  assert.equal(b3.id, "keras:vgg16:vgg16_small_weights.h5");
  assertClose(await b3.infer(x, 1), expected, 1e-4, "block3_conv3");
  b3.dispose();
});

test("Keras's cache is reused; missing weights offline are E_NETWORK", async () => {
  const home = path.join(tmpRoot, "keras-home");
  const old = process.env.KERAS_HOME;
  process.env.KERAS_HOME = home;
  try {
    await assert.rejects(loadBackbone("keras/mobilenet_v2", { offline: true }), (e: Error & { code?: string; file?: string }) => {
      assert.equal(e.code, "E_NETWORK");
      assert.equal(e.file, path.join(home, "models", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"));
      assert.match(e.message, /weights: "random"/);
      return true;
    });
    const { weights, model } = await randomKerasWeights("mobilenet_v2", 0.25, 3);
    fs.mkdirSync(path.join(home, "models"), { recursive: true });
    // written with the old Keras names for the top-less file's first layers: matched by position
    const renamed = weights.map((w) => (w.layer === "Conv1" ? { ...w, layer: "Conv1_old", names: w.names.map((n) => n.replace("Conv1/", "Conv1_old/")) } : w));
    await writeKerasLayout(
      path.join(home, "models", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"),
      model.layers.map((l) => (l.name === "Conv1" ? "Conv1_old" : l.name)),
      renamed,
    );
    model.dispose();
    const notices: string[] = [];
    const b = await loadBackbone("keras/mobilenet_v2", { offline: true, widthScale: 0.25, inputSize: 32, reporter: { notice: (n) => notices.push(n.message) } });
    assert.equal(b.id, "keras:mobilenet_v2@0.25");
    assert.deepEqual(b.outputShape, [1, 1, 1280 / 4]);
    assert.ok(notices.some((n) => /matched by position/.test(n)), notices.join("\n"));
    b.dispose();
  } finally {
    if (old === undefined) delete process.env.KERAS_HOME;
    else process.env.KERAS_HOME = old;
  }
});

test("an .h5 whose layers do not fit is E_WEIGHTS_MISMATCH listing them", async () => {
  const { weights, model } = await randomKerasWeights("vgg19", 1 / 16, 5);
  const names = model.layers.map((l) => l.name);
  model.dispose();
  const broken = weights
    .filter((w) => w.layer !== "block2_conv1")
    .map((w) => (w.layer === "block3_conv2" ? { ...w, arrays: [{ shape: [3, 3, 16, 8], data: new Float32Array(3 * 3 * 16 * 8) }, w.arrays[1]] } : w));
  const file = path.join(tmpRoot, "vgg19_broken.h5");
  await writeKerasLayout(file, names.filter((n) => n !== "block2_conv1"), broken);
  await assert.rejects(loadBackbone("keras/vgg19", { weights: file, widthScale: 1 / 16 }), (e: Error & { code?: string; file?: string }) => {
    assert.equal(e.code, "E_WEIGHTS_MISMATCH");
    assert.equal(e.file, path.resolve(file));
    assert.match(e.message, /layer 'block2_conv1' is not in the file/);
    assert.match(e.message, /layer 'block3_conv2' weight 'kernel': expected shape \[3, 3, 16, 16\], the file has \[3, 3, 16, 8\]/);
    return true;
  });
  // the same file read as a full-width VGG19: every conv layer differs
  await assert.rejects(loadBackbone("keras/vgg19", { weights: file, layer: "block1_conv1" }), /E_WEIGHTS_MISMATCH|expected shape \[3, 3, 3, 64\]/);
});

test("a truncated or foreign .h5 is E_MODEL_FILE naming it, and HDF5 prints nothing", async () => {
  const { weights, model } = await randomKerasWeights("vgg16", 1 / 16, 9);
  const good = path.join(tmpRoot, "vgg16_good.h5");
  await writeKerasLayout(good, model.layers.map((l) => l.name), weights);
  model.dispose();
  const bytes = fs.readFileSync(good);
  const cut = path.join(tmpRoot, "vgg16_cut.h5");
  fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  const text = path.join(tmpRoot, "vgg16_text.h5");
  fs.writeFileSync(text, "not hdf5 at all");
  const stderr: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (stderr.push(String(s)), true)) as typeof process.stderr.write;
  try {
    for (const [file, why] of [[cut, /truncated file/], [text, /no HDF5 signature/]] as const) {
      await assert.rejects(loadBackbone(file, { widthScale: 1 / 16 }), (e: Error & { code?: string; file?: string }) => {
        assert.equal(e.code, "E_MODEL_FILE");
        assert.equal(e.file, file);
        assert.match(e.message, why);
        return true;
      });
    }
  } finally {
    process.stderr.write = write;
  }
  assert.equal(stderr.join(""), "");
});
