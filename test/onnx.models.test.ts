/**
 * ONNX Runtime against tfjs on real networks and real images, three cut layers each: the nsfwjs bundled
 * MobileNetV2 and InceptionV3, the zoo MobileNet v1 0.75 (from ../shared/models, through a temporary
 * cache), and Keras VGG16 and ResNet50 with seeded random weights. One cut per model goes through
 * loadBackbone(..., {runtime: "onnx"}) to check that ONNX Runtime really runs (no fallback to tfjs).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

// Before the library reads it: zoo models and exported .onnx files go to a throwaway cache.
const CACHE = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-onnx-models-"));
process.env.CBIR_CACHE_DIR = CACHE;

import type * as tfTypes from "@tensorflow/tfjs";
import * as backboneLib from "../lib/backbone";
import { createOnnxBackbone } from "../lib/backbone/onnx";
import type { Notice } from "../lib/report";
import type { PreprocessMode } from "../lib/backbone/types";
import { SHARED, imageBatch, relativeError, testImages } from "./onnx.fixtures";

const TOLERANCE = 1e-4;
const IMAGES = 2;
const ZOO_SOURCE = path.join(SHARED, "models", "mobilenet_v1_0.75_224");

process.on("exit", () => fs.rmSync(CACHE, { recursive: true, force: true }));

interface Case {
  name: string;
  options?: Record<string, unknown>;
  /** Cuts through createOnnxBackbone, then one through loadBackbone. */
  cuts: string[];
  viaLoadBackbone: string;
  needs?: string;
  prepare?: () => void;
}

const CASES: Case[] = [
  { name: "nsfwjs/mobilenet_v2", cuts: ["block_1_pad", "block_6_pad", "block_12_add"], viaLoadBackbone: "out_relu" },
  { name: "nsfwjs/inception_v3", cuts: ["mixed0", "mixed5"], viaLoadBackbone: "mixed10" },
  {
    name: "mobilenet_v1_0.75_224",
    options: { offline: true },
    cuts: ["conv_pw_5_relu", "global_average_pooling2d_1"],
    viaLoadBackbone: "conv_preds",
    needs: ZOO_SOURCE,
    prepare: () => fs.cpSync(ZOO_SOURCE, path.join(CACHE, "mobilenet_v1_0.75_224"), { recursive: true }),
  },
  { name: "keras/vgg16", options: { weights: "random", seed: 7 }, cuts: ["block2_pool", "block4_conv3"], viaLoadBackbone: "block5_pool" },
  { name: "keras/resnet50", options: { weights: "random", seed: 7 }, cuts: ["conv2_block3_out", "conv4_block6_out"], viaLoadBackbone: "avg_pool" },
];

const images = testImages(IMAGES);
const skipAll = images.length === 0 ? "no test images: ../shared/data/steakhouse/db and data/sample are absent" : false;

/** A layer of `model` named `want`, else one at the same relative depth (Keras versions name layers differently). */
function pickLayer(model: tfTypes.LayersModel, want: string, fraction: number): string {
  if (model.layers.some((l) => l.name === want)) return want;
  return model.layers[Math.max(1, Math.round(fraction * (model.layers.length - 1)))].name;
}

for (const c of CASES) {
  const skip = skipAll || (c.needs && !fs.existsSync(c.needs) ? `${c.needs} is absent` : false);
  test(`${c.name}: ONNX Runtime matches tfjs at three cut layers`, { skip, timeout: 120_000 }, async (t) => {
    c.prepare?.();
    const tf = await backboneLib.getTf();
    const model = await backboneLib.loadLayersModel(c.name, c.options);
    const size: [number, number] = [model.inputs[0].shape[1] as number, model.inputs[0].shape[2] as number];
    const resolved = await backboneLib.resolveModel(c.name, c.options as backboneLib.ResolveOptions);
    const preprocessing = resolved.defaults.preprocessing as PreprocessMode;
    const batch = await imageBatch(images, size, preprocessing);
    const n = images.length;
    const cuts = c.cuts.map((l, i) => pickLayer(model, l, (i + 1) / (c.cuts.length + 2)));
    const last = pickLayer(model, c.viaLoadBackbone, 1);

    const reference = new Map<string, Float32Array>();
    for (const layer of [...cuts, last]) {
      const m = backboneLib.truncateAt(model, layer);
      const y = tf.tidy(() => m.predict(tf.tensor4d(batch, [n, size[0], size[1], 3])) as tfTypes.Tensor);
      reference.set(layer, (await y.data()) as Float32Array);
      y.dispose();
    }

    for (const layer of cuts) {
      const m = backboneLib.truncateAt(model, layer);
      const meta = {
        id: resolved.id,
        layer,
        inputSize: size,
        preprocessing,
        resize: "bilinear" as const,
        outputShape: m.outputs[0].shape.slice(1) as number[],
        weightsHash: `test:${c.name}:${JSON.stringify(c.options ?? {})}`,
      };
      const onnx = await createOnnxBackbone(m, meta);
      try {
        assert.equal(onnx.runtime, "onnx");
        const err = relativeError(await onnx.infer(batch, n), reference.get(layer)!);
        t.diagnostic(`${c.name} @ ${layer} [${meta.outputShape.join("x")}]: relative error ${err.toExponential(2)}`);
        assert.ok(err < TOLERANCE, `${c.name} cut at ${layer}: relative error ${err}`);
      } finally {
        onnx.dispose();
      }
    }
    model.dispose();

    const notices: Notice[] = [];
    const backbone = await backboneLib.loadBackbone(c.name, { ...c.options, layer: last, runtime: "onnx", reporter: { notice: (x) => notices.push(x) } });
    try {
      assert.equal(backbone.runtime, "onnx", `fell back to tfjs: ${notices.map((x) => x.message).join("; ")}`);
      assert.deepEqual(notices.filter((x) => x.level === "warn"), []);
      const err = relativeError(await backbone.infer(batch, n), reference.get(last)!);
      t.diagnostic(`${c.name} @ ${last} via loadBackbone [${backbone.outputShape.join("x")}]: relative error ${err.toExponential(2)}`);
      assert.ok(err < TOLERANCE, `${c.name} cut at ${last} (loadBackbone): relative error ${err}`);
    } finally {
      backbone.dispose();
    }
    assert.ok(fs.readdirSync(path.join(CACHE, "onnx")).some((f) => f.endsWith(".onnx")), "the export was cached");
  });
}
