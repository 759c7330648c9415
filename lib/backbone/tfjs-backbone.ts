/**
 * Backbones run by TensorFlow.js: a truncated layers model, or a graph model executed up to one node.
 * `infer` keeps no tensor alive between calls (everything made inside is disposed before it returns).
 */
import type * as tfTypes from "@tensorflow/tfjs";
import { invalidOption } from "../errors";
import type { Backbone, BackboneMeta } from "./types";
import type { Tf } from "./tf";

export type { BackboneMeta };

function checkBatch(batch: Float32Array, n: number, [h, w]: [number, number]): void {
  if (!Number.isInteger(n) || n < 1) throw invalidOption("n", "positive integer", n);
  if (!(batch instanceof Float32Array) || batch.length !== n * h * w * 3)
    throw invalidOption("batch", `Float32Array of ${n} x ${h} x ${w} x 3 = ${n * h * w * 3} values`, batch?.length ?? batch);
}

/** Output shape of the model's first output without the batch dimension; null dimensions become undefined. */
export function staticOutputShape(model: tfTypes.LayersModel): (number | null)[] {
  const shape = model.outputs[0].shape;
  return shape.slice(1);
}

/** The output shape for one image, running the model once on zeros when the topology leaves it open. */
export function resolveOutputShape(tf: Tf, model: tfTypes.LayersModel, inputSize: [number, number]): number[] {
  const shape = staticOutputShape(model);
  if (shape.every((d) => typeof d === "number")) return shape as number[];
  return tf.tidy(() => {
    const y = model.predict(tf.zeros([1, inputSize[0], inputSize[1], 3])) as tfTypes.Tensor;
    return y.shape.slice(1);
  });
}

export function layersBackbone(tf: Tf, model: tfTypes.LayersModel, meta: BackboneMeta): Backbone {
  return tfjsBackbone(tf, meta, model, (x) => {
    const y = model.predict(x);
    return (Array.isArray(y) ? y[0] : y) as tfTypes.Tensor;
  });
}

export function graphBackbone(tf: Tf, model: tfTypes.GraphModel, node: string, meta: BackboneMeta): Backbone {
  return tfjsBackbone(tf, meta, model, (x) => model.execute(x, node) as tfTypes.Tensor);
}

/** The Backbone around a tfjs model: `run` maps the NHWC input tensor to the cut layer's output. */
function tfjsBackbone(tf: Tf, meta: BackboneMeta, model: { dispose(): void }, run: (x: tfTypes.Tensor4D) => tfTypes.Tensor): Backbone {
  let disposed = false;
  return {
    ...meta,
    runtime: "tfjs",
    async infer(batch, n) {
      if (disposed) throw new Error(`backbone ${meta.id} was disposed`);
      checkBatch(batch, n, meta.inputSize);
      const out = tf.tidy(() => run(tf.tensor4d(batch, [n, meta.inputSize[0], meta.inputSize[1], 3])));
      try {
        return (await out.data()) as Float32Array;
      } finally {
        out.dispose();
      }
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      model.dispose();
    },
  };
}
