/**
 * Shared by the onnx.*.test.ts files: small tf.layers models covering every layer type the exporter
 * supports, deterministic weights, test images, and the parity measure.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as tfTypes from "@tensorflow/tfjs";
import { decodeImage } from "../lib/prepare/decode";
import { preprocessPixels } from "../lib/backbone/preprocess";
import type { PreprocessMode } from "../lib/backbone/types";
import { seededRandom } from "../lib/random";

type Tf = typeof tfTypes;
type ST = tfTypes.SymbolicTensor;

/** Input side of the small models: odd, so that "same" padding is asymmetric at stride 2. */
export const FIXTURE_SIZE = 45;
/** ||ort - tfjs|| / ||tfjs|| must stay below this. */
export const TOLERANCE = 1e-4;

export const SHARED = path.resolve(__dirname, "..", "..", "shared");
export const STEAKHOUSE = path.join(SHARED, "data", "steakhouse", "db");
const SAMPLE = path.resolve(__dirname, "..", "data", "sample");

/** Real test images: the steakhouse database, else data/sample; [] when neither is there. */
export function testImages(count: number): string[] {
  for (const dir of [STEAKHOUSE, SAMPLE]) {
    if (!fs.existsSync(dir)) continue;
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.(jpe?g|png|webp)$/i.test(e.name)) files.push(p);
      }
    };
    walk(dir);
    if (files.length) {
      // spread over the folder so that different classes are used
      const step = Math.max(1, Math.floor(files.length / count));
      return files.filter((_, i) => i % step === 0).slice(0, count);
    }
  }
  return [];
}

/** `n` images decoded and preprocessed to one NHWC batch. */
export async function imageBatch(files: string[], size: [number, number], mode: PreprocessMode): Promise<Float32Array> {
  const per = size[0] * size[1] * 3;
  const out = new Float32Array(files.length * per);
  for (let i = 0; i < files.length; i++) {
    const img = await decodeImage(files[i], { size, resize: "bilinear" });
    preprocessPixels(img.data, mode, out.subarray(i * per, (i + 1) * per));
  }
  return out;
}

/** ||a - b|| / ||b||. */
export function relativeError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}


/**
 * Replaces every weight with seeded values that keep activations in a sane range: kernels uniform with
 * variance 1/fan-in, biases and BatchNormalization statistics non-trivial (so folding is really tested).
 */
export function seedWeights(tf: Tf, model: tfTypes.LayersModel, seed: number): void {
  const rnd = seededRandom(seed);
  for (const layer of model.layers) {
    const ws = layer.weights;
    if (!ws.length) continue;
    const values = ws.map((w) => {
      const shape = w.shape as number[]; // weights always have a full shape
      const size = shape.reduce((a, b) => a * b, 1);
      const name = w.originalName ?? w.name;
      const data = new Float32Array(size);
      const u = () => rnd() * 2 - 1;
      if (/moving_variance$/.test(name)) for (let i = 0; i < size; i++) data[i] = 0.5 + rnd();
      else if (/gamma$/.test(name)) for (let i = 0; i < size; i++) data[i] = 0.5 + rnd();
      else if (/(beta|bias|moving_mean)$/.test(name)) for (let i = 0; i < size; i++) data[i] = 0.3 * u();
      else {
        const fanIn = shape.length > 1 ? size / shape[shape.length - 1] : size;
        const a = Math.sqrt(3 / fanIn);
        for (let i = 0; i < size; i++) data[i] = a * u();
      }
      return tf.tensor(data, shape);
    });
    layer.setWeights(values);
    values.forEach((t) => t.dispose());
  }
}

/** MobileNet-like: ZeroPadding2D, Conv2D (valid, no bias), BN, ReLU, DepthwiseConv2D, Activation, Add, Dropout, SeparableConv2D, pools, Dense. */
export function mobileLike(tf: Tf, size: number | null): tfTypes.LayersModel {
  const L = tf.layers;
  const input = tf.input({ shape: [size, size, 3], name: "m_input" });
  let x = L.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: "m_pad" }).apply(input) as ST;
  x = L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: "valid", useBias: false, name: "m_conv1" }).apply(x) as ST;
  x = L.batchNormalization({ name: "m_bn1" }).apply(x) as ST;
  x = L.reLU({ maxValue: 6, name: "m_relu1" }).apply(x) as ST;
  let y = L.depthwiseConv2d({ kernelSize: 3, strides: 2, depthMultiplier: 2, padding: "same", useBias: false, name: "m_dw" }).apply(x) as ST;
  y = L.batchNormalization({ name: "m_bn2" }).apply(y) as ST;
  y = L.activation({ activation: "relu6", name: "m_relu2" }).apply(y) as ST;
  y = L.conv2d({ filters: 8, kernelSize: 1, name: "m_project" }).apply(y) as ST;
  y = L.batchNormalization({ name: "m_bn3" }).apply(y) as ST;
  const skip = L.conv2d({ filters: 8, kernelSize: 1, strides: 2, padding: "same", name: "m_skip" }).apply(x) as ST;
  x = L.add({ name: "m_add" }).apply([y, skip]) as ST;
  x = L.dropout({ rate: 0.5, name: "m_drop" }).apply(x) as ST;
  x = L.separableConv2d({ filters: 12, kernelSize: 3, padding: "same", activation: "relu", name: "m_sep" }).apply(x) as ST;
  x = L.averagePooling2d({ poolSize: 2, name: "m_avg" }).apply(x) as ST;
  x = L.globalAveragePooling2d({ name: "m_gap" }).apply(x) as ST;
  x = L.dense({ units: 5, name: "m_logits" }).apply(x) as ST;
  x = L.activation({ activation: "softmax", name: "m_softmax" }).apply(x) as ST;
  return tf.model({ inputs: input, outputs: x, name: "mobile_like" });
}

/** Inception-like: "same" convolutions with even and odd kernels, Max/AveragePooling2D (same, valid), Concatenate, a BN that cannot fold, sigmoid/tanh, GlobalMaxPooling2D. */
export function inceptionLike(tf: Tf, size: number | null): tfTypes.LayersModel {
  const L = tf.layers;
  const input = tf.input({ shape: [size, size, 3], name: "i_input" });
  const stem = L.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: "same", activation: "relu", name: "i_stem" }).apply(input) as ST;
  const even = L.conv2d({ filters: 4, kernelSize: 2, padding: "same", name: "i_even" }).apply(stem) as ST;
  const wide = L.conv2d({ filters: 4, kernelSize: [1, 5], padding: "same", dilationRate: 1, name: "i_wide" }).apply(stem) as ST;
  const dil = L.conv2d({ filters: 4, kernelSize: 3, padding: "same", dilationRate: 2, name: "i_dilated" }).apply(stem) as ST;
  const maxS = L.maxPooling2d({ poolSize: 3, strides: 1, padding: "same", name: "i_max_same" }).apply(stem) as ST;
  const avgS = L.averagePooling2d({ poolSize: 3, strides: 1, padding: "same", name: "i_avg_same" }).apply(stem) as ST;
  let x = L.concatenate({ axis: -1, name: "i_mixed" }).apply([even, wide, dil, maxS, avgS]) as ST;
  x = L.batchNormalization({ name: "i_bn" }).apply(x) as ST;
  x = L.activation({ activation: "sigmoid", name: "i_sigmoid" }).apply(x) as ST;
  x = L.maxPooling2d({ poolSize: 3, strides: 2, padding: "valid", name: "i_max_valid" }).apply(x) as ST;
  x = L.averagePooling2d({ poolSize: 3, strides: 2, padding: "same", name: "i_avg_s2" }).apply(x) as ST;
  x = L.conv2d({ filters: 6, kernelSize: 3, padding: "valid", activation: "tanh", name: "i_tanh" }).apply(x) as ST;
  x = L.globalMaxPooling2d({ name: "i_gmp" }).apply(x) as ST;
  return tf.model({ inputs: input, outputs: x, name: "inception_like" });
}

/** VGG-like head and odd layers: Flatten (NHWC order), Dense (+ BN folded into it), Reshape, Permute, Dense on images, merges, LeakyReLU, ELU, Softmax, linear. */
export function headLike(tf: Tf, size: number): tfTypes.LayersModel {
  const L = tf.layers;
  const input = tf.input({ shape: [size, size, 3], name: "h_input" });
  let x = L.conv2d({ filters: 4, kernelSize: 3, strides: 4, padding: "same", activation: "relu", name: "h_conv" }).apply(input) as ST;
  const a = L.conv2d({ filters: 4, kernelSize: 1, activation: "linear", name: "h_a" }).apply(x) as ST;
  const b = L.dense({ units: 4, name: "h_dense_img" }).apply(x) as ST; // Dense on a rank-4 tensor acts on channels
  const bn = L.batchNormalization({ name: "h_bn_img" }).apply(b) as ST;
  x = L.concatenate({ name: "h_merges" }).apply([
    L.multiply({ name: "h_mul" }).apply([a, bn]) as ST,
    L.average({ name: "h_avg" }).apply([a, bn, x]) as ST,
    L.maximum({ name: "h_max" }).apply([a, bn]) as ST,
    L.minimum({ name: "h_min" }).apply([a, bn]) as ST,
  ]) as ST;
  x = L.leakyReLU({ alpha: 0.2, name: "h_leaky" }).apply(x) as ST;
  x = L.elu({ name: "h_elu" }).apply(x) as ST;
  x = L.maxPooling2d({ poolSize: 2, name: "h_pool" }).apply(x) as ST;
  x = L.flatten({ name: "h_flatten" }).apply(x) as ST;
  x = L.dense({ units: 32, activation: "relu", name: "h_fc1" }).apply(x) as ST;
  x = L.dropout({ rate: 0.5, name: "h_fc1_drop" }).apply(x) as ST;
  x = L.dense({ units: 48, name: "h_fc2" }).apply(x) as ST;
  x = L.batchNormalization({ name: "h_fc2_bn" }).apply(x) as ST;
  x = L.activation({ activation: "tanh", name: "h_fc2_tanh" }).apply(x) as ST;
  x = L.reshape({ targetShape: [4, 6, 2], name: "h_reshape" }).apply(x) as ST;
  x = L.conv2d({ filters: 3, kernelSize: 3, padding: "same", name: "h_conv_after_reshape" }).apply(x) as ST;
  x = L.permute({ dims: [2, 1, 3], name: "h_permute" }).apply(x) as ST;
  x = L.flatten({ name: "h_flatten2" }).apply(x) as ST;
  x = L.dense({ units: 7, activation: "linear", name: "h_logits" }).apply(x) as ST;
  x = L.softmax({ name: "h_softmax" }).apply(x) as ST;
  return tf.model({ inputs: input, outputs: x, name: "head_like" });
}

/** A base network used as one layer of another model (transfer-learning style). */
export function nestedModel(tf: Tf, size: number): tfTypes.LayersModel {
  const L = tf.layers;
  const base = tf.sequential({
    name: "n_base",
    layers: [
      L.conv2d({ inputShape: [size, size, 3], filters: 6, kernelSize: 3, strides: 2, padding: "same", name: "n_conv" }),
      L.batchNormalization({ name: "n_bn" }),
      L.reLU({ name: "n_relu" }),
    ],
  });
  const input = tf.input({ shape: [size, size, 3], name: "n_input" });
  let x = base.apply(input) as ST;
  x = L.globalAveragePooling2d({ name: "n_gap" }).apply(x) as ST;
  x = L.dense({ units: 3, activation: "sigmoid", name: "n_out" }).apply(x) as ST;
  return tf.model({ inputs: input, outputs: x, name: "nested" });
}

/** The model cut at `layer` (sharing weights). */
export function cut(tf: Tf, model: tfTypes.LayersModel, layer: string): tfTypes.LayersModel {
  return tf.model({ inputs: model.inputs, outputs: model.getLayer(layer).output as ST, name: `${model.name}_to_${layer}` });
}

/** Real images when there are some (steakhouse or data/sample), else a deterministic synthetic batch. */
export async function inputs(n: number, size: number): Promise<{ batch: Float32Array; n: number; real: boolean }> {
  const files = testImages(n);
  if (files.length) return { batch: await imageBatch(files, [size, size], "tf"), n: files.length, real: true };
  const batch = Float32Array.from({ length: n * size * size * 3 }, (_, i) => Math.sin(i * 0.37) * Math.cos(i * 0.011));
  return { batch, n, real: false };
}

export async function tfjsOutput(tf: Tf, model: tfTypes.LayersModel, batch: Float32Array, n: number, size?: [number, number]): Promise<Float32Array> {
  const [h, w] = size ?? [model.inputs[0].shape[1] as number, model.inputs[0].shape[2] as number];
  const y = tf.tidy(() => model.predict(tf.tensor4d(batch, [n, h, w, 3])) as tfTypes.Tensor);
  const data = (await y.data()) as Float32Array;
  y.dispose();
  return data;
}

export function fixtureMeta(id: string, model: tfTypes.LayersModel, weightsHash = `seeded:${id}`) {
  return {
    id,
    layer: model.outputs[0].sourceLayer.name,
    inputSize: [model.inputs[0].shape[1] as number, model.inputs[0].shape[2] as number] as [number, number],
    preprocessing: "tf" as const,
    resize: "bilinear" as const,
    outputShape: model.outputs[0].shape.slice(1) as number[],
    weightsHash,
  };
}
