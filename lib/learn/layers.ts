/**
 * The one custom layer the heads need: L2 normalisation of each row (tfjs has no Lambda layer). Registered
 * with tfjs serialization on first use, so a saved triplet head's model.json loads back with it.
 */
import type * as tfTypes from "@tensorflow/tfjs";
import { tfModule } from "../backbone/tf";

export const L2_NORMALIZATION_CLASS = "CbirL2Normalization";

type LayerCtor = new (args?: { name?: string; epsilon?: number }) => tfTypes.layers.Layer;
let ctor: LayerCtor | undefined;

/** The layer class, defined and registered once. */
export function l2NormalizationClass(): LayerCtor {
  if (ctor) return ctor;
  const tf = tfModule();
  class L2Normalization extends tf.layers.Layer {
    static className = L2_NORMALIZATION_CLASS;
    readonly epsilon: number;
    constructor(args: { name?: string; epsilon?: number } = {}) {
      super({ name: args.name });
      // tf.math.l2_normalize's epsilon: rows of zeros stay zeros instead of NaN
      this.epsilon = args.epsilon ?? 1e-12;
    }
    call(inputs: tfTypes.Tensor | tfTypes.Tensor[]): tfTypes.Tensor {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), -1, true), this.epsilon))));
    }
    getConfig(): tfTypes.serialization.ConfigDict {
      return { ...super.getConfig(), epsilon: this.epsilon };
    }
  }
  tf.serialization.registerClass(L2Normalization);
  ctor = L2Normalization as unknown as LayerCtor;
  return ctor;
}

export function l2NormalizationLayer(name = "l2_normalization"): tfTypes.layers.Layer {
  const C = l2NormalizationClass();
  return new C({ name });
}

/**
 * x · w with a gradient that transposes explicitly: on the wasm backend a matMul with transposeA or transposeB
 * (what tfjs's own gradient uses) runs 5-20x slower than transposing first, which made training 10x slower.
 */
export function matMulForTraining(x: tfTypes.Tensor2D, w: tfTypes.Tensor2D): tfTypes.Tensor2D {
  const tf = tfModule();
  const f = tf.customGrad((...inputs) => {
    const [a, b] = inputs as tfTypes.Tensor2D[];
    (inputs[2] as tfTypes.GradSaveFunc)([a, b]); // the tape keeps saved tensors alive until backprop
    return {
      value: tf.matMul(a, b) as tfTypes.Tensor2D,
      gradFunc: (dy: tfTypes.Tensor2D, saved: tfTypes.Tensor[]) => {
        const [sa, sb] = saved as tfTypes.Tensor2D[];
        return [tf.matMul(dy, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy)];
      },
    };
  });
  return f(x, w) as tfTypes.Tensor2D;
}

const ACTIVATIONS: Record<string, (x: tfTypes.Tensor) => tfTypes.Tensor> = {
  linear: (x) => x,
  relu: (x) => tfModule().relu(x),
  tanh: (x) => tfModule().tanh(x),
  sigmoid: (x) => tfModule().sigmoid(x),
};

/**
 * The forward pass of a sequential model of Dense, Dropout and L2-normalisation layers, for training: the
 * same maths as model.apply, with Dense through matMulForTraining. Other layers run as themselves.
 */
export function forwardForTraining(model: tfTypes.LayersModel, x: tfTypes.Tensor2D, training: boolean): tfTypes.Tensor2D {
  const tf = tfModule();
  let h: tfTypes.Tensor = x;
  for (const layer of model.layers) {
    if (layer.getClassName() === "Dense") {
      const config = layer.getConfig() as { activation?: string; useBias?: boolean };
      const act = ACTIVATIONS[config.activation ?? "linear"];
      if (!act) throw new Error(`forwardForTraining: activation ${config.activation} not supported`);
      const [kernel, bias] = layer.trainableWeights.map((w) => w.read());
      let y: tfTypes.Tensor = matMulForTraining(h as tfTypes.Tensor2D, kernel as tfTypes.Tensor2D);
      if (config.useBias !== false && bias) y = tf.add(y, bias);
      h = act(y);
    } else {
      h = layer.apply(h, { training }) as tfTypes.Tensor;
    }
  }
  return h as tfTypes.Tensor2D;
}
