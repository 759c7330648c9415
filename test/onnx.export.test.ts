/**
 * The Keras-to-ONNX exporter on small models built here with tf.layers (every supported layer type,
 * seeded weights): ONNX Runtime's outputs match tfjs's at many cut layers, batch norms are folded, and
 * unsupported layers are refused with E_UNSUPPORTED_LAYER.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type * as tfTypes from "@tensorflow/tfjs";
import { getTf } from "../lib/backbone/tf";
import { createOnnxBackbone, exportLayersModel, EXPORTABLE_LAYERS } from "../lib/backbone/onnx";
import { ProtoWriter } from "../lib/onnx/protobuf";
import { samePadding } from "../lib/onnx/graph";
import { isCbirError } from "../lib/errors";
import { FIXTURE_SIZE, TOLERANCE, cut, fixtureMeta as meta, headLike, inceptionLike, inputs, mobileLike, nestedModel, relativeError, seedWeights, tfjsOutput } from "./onnx.fixtures";

const SIZE = FIXTURE_SIZE;

test("protobuf writer encodes varints, negative int64 and floats as the spec says", () => {
  assert.deepEqual([...new ProtoWriter().varint(1, 300).finish()], [0x08, 0xac, 0x02]);
  assert.deepEqual([...new ProtoWriter().varint(1, -1).finish()], [0x08, ...Array(9).fill(0xff), 0x01]);
  assert.deepEqual([...new ProtoWriter().float(2, 1).finish()], [0x15, 0, 0, 0x80, 0x3f]);
  assert.deepEqual([...new ProtoWriter().string(3, "ab").finish()], [0x1a, 2, 0x61, 0x62]);
});

test("TF 'same' padding puts the odd pixel at the end", () => {
  assert.deepEqual(samePadding(224, 3, 2, 1), [0, 1]);
  assert.deepEqual(samePadding(225, 3, 2, 1), [1, 1]);
  assert.deepEqual(samePadding(45, 2, 1, 1), [0, 1]);
  assert.deepEqual(samePadding(10, 3, 1, 2), [2, 2]);
});

const MODELS: { name: string; build: (tf: typeof tfTypes) => tfTypes.LayersModel; cuts: string[] }[] = [
  { name: "mobile_like", build: (tf) => mobileLike(tf, SIZE), cuts: ["m_pad", "m_relu1", "m_bn2", "m_add", "m_gap", "m_softmax"] },
  { name: "inception_like", build: (tf) => inceptionLike(tf, SIZE), cuts: ["i_mixed", "i_sigmoid", "i_gmp"] },
  { name: "head_like", build: (tf) => headLike(tf, SIZE), cuts: ["h_merges", "h_flatten", "h_fc2_bn", "h_permute", "h_softmax"] },
  { name: "nested", build: (tf) => nestedModel(tf, SIZE), cuts: ["n_out"] },
];

test("exported small models match tfjs at every cut (every supported layer type)", async (t) => {
  const tf = await getTf();
  const { batch, n, real } = await inputs(3, SIZE);
  if (!real) t.diagnostic("no real images (../shared or data/sample): using a synthetic batch");
  const seen = new Set<string>();
  for (const [k, spec] of MODELS.entries()) {
    const model = spec.build(tf);
    seedWeights(tf, model, 1234 + k);
    for (const l of model.layers) seen.add(l.getClassName());
    for (const layer of spec.cuts) {
      const m = cut(tf, model, layer);
      const expected = await tfjsOutput(tf, m, batch, n);
      const backbone = await createOnnxBackbone(m, meta(`${spec.name}:${layer}`, m, ""));
      try {
        assert.equal(backbone.runtime, "onnx");
        const got = await backbone.infer(batch, n);
        const err = relativeError(got, expected);
        t.diagnostic(`${spec.name} @ ${layer}: ${expected.length / n} values per image, relative error ${err.toExponential(2)}`);
        assert.ok(err < TOLERANCE, `${spec.name} cut at ${layer}: relative error ${err}`);
      } finally {
        backbone.dispose();
      }
    }
    model.dispose();
  }
  // the fixtures really cover what the exporter claims to support
  const untested = EXPORTABLE_LAYERS.filter((c) => !seen.has(c) && !["SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout"].includes(c));
  assert.deepEqual(untested, []);
});

test("models with an open input size are exported for the backbone's size, or with SAME_UPPER padding", async () => {
  const tf = await getTf();
  const ort = await import("onnxruntime-node");
  const { batch, n } = await inputs(2, SIZE);
  for (const [k, build] of [mobileLike, inceptionLike].entries()) {
    const model = build(tf, null);
    seedWeights(tf, model, 99 + k);
    const expected = await tfjsOutput(tf, model, batch, n, [SIZE, SIZE]);
    const backbone = await createOnnxBackbone(model, { ...meta(`open:${model.name}`, model, ""), inputSize: [SIZE, SIZE], outputShape: [expected.length / n] });
    const err = relativeError(await backbone.infer(batch, n), expected);
    assert.ok(err < TOLERANCE, `${model.name} at ${SIZE}: relative error ${err}`);
    backbone.dispose();
    if (model.name === "mobile_like") {
      // no size given: "same" becomes SAME_UPPER, which ONNX Runtime applies at run time
      const session = await ort.InferenceSession.create(exportLayersModel(model).bytes);
      const out = await session.run({ input: new ort.Tensor("float32", batch, [n, SIZE, SIZE, 3]) });
      const err2 = relativeError(out.output.data as Float32Array, expected);
      assert.ok(err2 < TOLERANCE, `SAME_UPPER: relative error ${err2}`);
      await session.release();
    } else {
      // ONNX Runtime has no dilated SAME_UPPER convolution: refused at export, not at run time
      assert.throws(() => exportLayersModel(model), (e: unknown) => isCbirError(e) && e.code === "E_UNSUPPORTED_LAYER" && /i_dilated/.test(e.message));
    }
    model.dispose();
  }
});

test("batch norms are folded into the convolution or dense layer before them", async () => {
  const tf = await getTf();
  const model = mobileLike(tf, SIZE);
  seedWeights(tf, model, 7);
  const ex = exportLayersModel(model);
  assert.equal(ex.foldedBatchNorms, 3);
  assert.deepEqual(ex.outputShape, [5]);
  const head = headLike(tf, SIZE);
  assert.equal(exportLayersModel(head).foldedBatchNorms, 2); // into a rank-4 Dense and a rank-2 Dense
  model.dispose();
  head.dispose();
});

test("a layer the exporter does not know throws E_UNSUPPORTED_LAYER naming the type and the layer", async () => {
  const tf = await getTf();
  const input = tf.input({ shape: [6, 4] });
  const out = tf.layers.lstm({ units: 3, name: "my_lstm" }).apply(input) as tfTypes.SymbolicTensor;
  const lstm = tf.model({ inputs: input, outputs: out });
  assert.throws(
    () => exportLayersModel(lstm),
    (e: unknown) => isCbirError(e) && e.code === "E_UNSUPPORTED_LAYER" && /LSTM/.test(e.message) && /my_lstm/.test(e.message),
  );
  await assert.rejects(createOnnxBackbone(lstm, { ...meta("lstm", lstm), inputSize: [6, 4] }), (e: unknown) => isCbirError(e) && e.code === "E_UNSUPPORTED_LAYER");
  lstm.dispose();

  class Doubler extends tf.layers.Layer {
    static className = "Doubler";
    call(x: tfTypes.Tensor | tfTypes.Tensor[]) {
      return tf.mul(Array.isArray(x) ? x[0] : x, 2);
    }
  }
  tf.serialization.registerClass(Doubler);
  const img = tf.input({ shape: [8, 8, 3] });
  const custom = tf.model({ inputs: img, outputs: new Doubler({ name: "twice" }).apply(img) as tfTypes.SymbolicTensor });
  assert.throws(() => exportLayersModel(custom), (e: unknown) => isCbirError(e) && e.code === "E_UNSUPPORTED_LAYER" && /Doubler/.test(e.message) && /twice/.test(e.message));
  custom.dispose();
});
