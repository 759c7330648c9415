/**
 * One handler per supported Keras layer class: reads the layer's config and weights and appends the
 * equivalent ONNX nodes. Handlers receive values already in graph layout (see graph.ts) and return the
 * layer's output value. The weighted layers' handlers are in conv-layers.ts, the shared helpers in
 * layer-call.ts.
 */
import { graphAxis, samePadding, unsupported } from "./graph";
import { applyActivation, cfg, only, pair, requireChannelsLast, type Handler } from "./layer-call";
import { batchNormalization, conv2d, dense, depthwiseConv2d, separableConv2d } from "./conv-layers";

const activationLayer: Handler = (c) => {
  const x = only(c);
  return { name: applyActivation(c, c.g.materialize(x, c.name), cfg(c, "activation", "linear"), x.shape.length + 1), shape: c.outShape };
};

const relu: Handler = (c) => {
  const { g, name } = c;
  const x = g.materialize(only(c), name);
  const max = cfg<number | null>(c, "maxValue", null);
  const out = max === null ? g.node("Relu", [x], {}, name) : g.node("Clip", [x, g.scalar(0), g.scalar(max)], {}, name);
  return { name: out, shape: c.outShape };
};

const leakyRelu: Handler = (c) => {
  const x = c.g.materialize(only(c), c.name);
  return { name: c.g.node("LeakyRelu", [x], { alpha: { float: cfg(c, "alpha", 0.3) } }, c.name), shape: c.outShape };
};

const elu: Handler = (c) => {
  const x = c.g.materialize(only(c), c.name);
  return { name: c.g.node("Elu", [x], { alpha: { float: cfg(c, "alpha", 1) } }, c.name), shape: c.outShape };
};

const softmax: Handler = (c) => {
  const x = only(c);
  const axis = cfg<number | number[]>(c, "axis", -1);
  if (Array.isArray(axis) && axis.length !== 1) throw unsupported(c.name, c.className, "softmax over several axes");
  const a = Array.isArray(axis) ? axis[0] : axis;
  const out = c.g.node("Softmax", [c.g.materialize(x, c.name)], { axis: graphAxis(a, x.shape.length + 1) }, c.name);
  return { name: out, shape: c.outShape };
};

/** Add, Multiply, Average, Maximum, Minimum: element-wise over inputs of one rank (and so one layout). */
function merge(op: string, binary: boolean): Handler {
  return (c) => {
    const { g, name } = c;
    const rank = c.inputs[0].shape.length;
    if (c.inputs.some((v) => v.shape.length !== rank)) throw unsupported(name, c.className, "inputs of different ranks");
    const xs = c.inputs.map((v) => g.materialize(v, name));
    if (xs.length === 1) return { name: xs[0], shape: c.outShape };
    let out: string;
    if (binary) {
      out = xs[0];
      for (const x of xs.slice(1)) out = g.node(op, [out, x], {}, name);
    } else {
      out = g.node(op, xs, {}, name);
    }
    return { name: out, shape: c.outShape };
  };
}

const add: Handler = (c) => merge(c.inputs.length === 2 ? "Add" : "Sum", c.inputs.length === 2)(c);

const concatenate: Handler = (c) => {
  const { g, name } = c;
  const rank = c.outShape.length + 1;
  const axis = graphAxis(cfg(c, "axis", -1), rank);
  const xs = c.inputs.map((v) => g.materialize(v, name));
  return { name: g.node("Concat", xs, { axis }, name), shape: c.outShape };
};

const zeroPadding2d: Handler = (c) => {
  requireChannelsLast(c);
  const x = only(c);
  const p = c.config.padding as [[number, number], [number, number]];
  const [t, b, l, r] = x.pendingPads ?? [0, 0, 0, 0];
  return { name: x.name, shape: c.outShape, pendingPads: [t + p[0][0], b + p[0][1], l + p[1][0], r + p[1][1]] };
};

function pool(op: "MaxPool" | "AveragePool"): Handler {
  return (c) => {
    requireChannelsLast(c);
    const { g, name } = c;
    const x = only(c);
    const kernel = pair(c.config.poolSize, 2);
    const strides = pair(c.config.strides ?? c.config.poolSize, 2);
    const padding = cfg<string>(c, "padding", "valid");
    const attrs: Record<string, number[] | number | string> = { kernel_shape: kernel, strides };
    if (op === "AveragePool") attrs.count_include_pad = 0; // TF averages over the real pixels only
    if (padding === "same") {
      const [h, w] = x.shape;
      if (h === null || w === null) attrs.auto_pad = "SAME_UPPER";
      else {
        const [t, bt] = samePadding(h, kernel[0], strides[0], 1);
        const [l, r] = samePadding(w, kernel[1], strides[1], 1);
        attrs.pads = [t, l, bt, r];
      }
    } else if (padding !== "valid") throw unsupported(name, c.className, `padding ${padding}`);
    return { name: g.node(op, [g.materialize(x, name)], attrs, name), shape: c.outShape };
  };
}

function globalPool(op: "ReduceMean" | "ReduceMax"): Handler {
  return (c) => {
    requireChannelsLast(c);
    const x = only(c);
    const out = c.g.node(op, [c.g.materialize(x, c.name)], { axes: [2, 3], keepdims: 0 }, c.name);
    return { name: out, shape: c.outShape };
  };
}

const flatten: Handler = (c) => {
  const x = only(c);
  if (x.shape.length === 1) return { name: c.g.materialize(x, c.name), shape: c.outShape };
  return { name: c.g.node("Flatten", [c.g.kerasOrder(x, c.name)], { axis: 1 }, c.name), shape: c.outShape };
};

const reshape: Handler = (c) => {
  const { g, name } = c;
  const target = c.config.targetShape as number[];
  // 0 copies the batch size from the input; a -1 in the target is inferred as Keras does.
  const out = g.node("Reshape", [g.kerasOrder(only(c), name), g.int64([0, ...target])], {}, name);
  return { name: g.graphOrder(out, c.outShape, name), shape: c.outShape };
};

const permute: Handler = (c) => {
  const { g, name } = c;
  const dims = c.config.dims as number[];
  const out = g.node("Transpose", [g.kerasOrder(only(c), name)], { perm: [0, ...dims] }, name);
  return { name: g.graphOrder(out, c.outShape, name), shape: c.outShape };
};

const identity: Handler = (c) => only(c);

/** Keras layer classes the ONNX exporter handles (besides InputLayer and nested models). */
export const EXPORTABLE_LAYERS = [
  "Conv2D",
  "DepthwiseConv2D",
  "SeparableConv2D",
  "Dense",
  "BatchNormalization",
  "Activation",
  "ReLU",
  "LeakyReLU",
  "ELU",
  "Softmax",
  "Add",
  "Multiply",
  "Average",
  "Maximum",
  "Minimum",
  "Concatenate",
  "ZeroPadding2D",
  "MaxPooling2D",
  "AveragePooling2D",
  "GlobalAveragePooling2D",
  "GlobalMaxPooling2D",
  "Flatten",
  "Reshape",
  "Permute",
  "Dropout",
  "SpatialDropout1D",
  "GaussianNoise",
  "GaussianDropout",
  "AlphaDropout",
] as const;
export type ExportableLayer = (typeof EXPORTABLE_LAYERS)[number];

const HANDLERS: Readonly<Record<ExportableLayer, Handler>> = Object.freeze({
  Conv2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d,
  Dense: dense,
  BatchNormalization: batchNormalization,
  Activation: activationLayer,
  ReLU: relu,
  LeakyReLU: leakyRelu,
  ELU: elu,
  Softmax: softmax,
  Add: add,
  Multiply: merge("Mul", true),
  Average: merge("Mean", false),
  Maximum: merge("Max", false),
  Minimum: merge("Min", false),
  Concatenate: concatenate,
  ZeroPadding2D: zeroPadding2d,
  MaxPooling2D: pool("MaxPool"),
  AveragePooling2D: pool("AveragePool"),
  GlobalAveragePooling2D: globalPool("ReduceMean"),
  GlobalMaxPooling2D: globalPool("ReduceMax"),
  Flatten: flatten,
  Reshape: reshape,
  Permute: permute,
  // nothing to do at inference time
  Dropout: identity,
  SpatialDropout1D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
});

/** The handler of a Keras layer class, or undefined when it cannot be exported. */
export function layerHandler(className: string): Handler | undefined {
  return (EXPORTABLE_LAYERS as readonly string[]).includes(className) ? HANDLERS[className as ExportableLayer] : undefined;
}
