/**
 * One handler per supported Keras layer class: reads the layer's config and weights and appends the
 * equivalent ONNX nodes. Handlers receive values already in graph layout (see graph.ts) and return the
 * layer's output value.
 */
import {
  GraphBuilder,
  type Value,
  convKernelToOnnx,
  depthwiseKernelToOnnx,
  foldScaleShift,
  graphAxis,
  samePadding,
  unsupported,
} from "./graph";

export interface LayerWeight {
  data: Float32Array;
  shape: number[];
}

export interface LayerCall {
  g: GraphBuilder;
  /** Keras layer name, also the prefix of every tensor it emits. */
  name: string;
  className: string;
  config: Record<string, unknown>;
  inputs: Value[];
  /** Keras output shape without the batch dimension. */
  outShape: (number | null)[];
  /** Copies of the layer's weights, in the layer's own order. */
  weights(): LayerWeight[];
}

export type Handler = (c: LayerCall) => Value;

function cfg<T>(c: LayerCall, key: string, fallback: T): T {
  const v = c.config[key];
  return v === undefined || v === null ? fallback : (v as T);
}

function pair(v: unknown, fallback: number): [number, number] {
  if (typeof v === "number") return [v, v];
  if (Array.isArray(v)) return [Number(v[0]), Number(v[v.length > 1 ? 1 : 0])];
  return [fallback, fallback];
}

function requireChannelsLast(c: LayerCall): void {
  const fmt = cfg(c, "dataFormat", "channelsLast");
  if (fmt !== "channelsLast") throw unsupported(c.name, c.className, `dataFormat ${String(fmt)}`);
}

function only(c: LayerCall): Value {
  if (c.inputs.length !== 1) throw unsupported(c.name, c.className, `${c.inputs.length} inputs`);
  return c.inputs[0];
}

/** Keras activations by their tfjs names. */
export function applyActivation(c: LayerCall, x: string, activation: string, rankWithBatch: number): string {
  const { g, name } = c;
  switch (activation) {
    case "linear":
      return x;
    case "relu":
      return g.node("Relu", [x], {}, name);
    case "relu6":
      return g.node("Clip", [x, g.scalar(0), g.scalar(6)], {}, name);
    case "sigmoid":
      return g.node("Sigmoid", [x], {}, name);
    case "tanh":
      return g.node("Tanh", [x], {}, name);
    case "softplus":
      return g.node("Softplus", [x], {}, name);
    case "softsign":
      return g.node("Softsign", [x], {}, name);
    case "elu":
      return g.node("Elu", [x], {}, name);
    case "selu":
      return g.node("Selu", [x], {}, name); // ONNX's default alpha and gamma are Keras's constants
    case "hardSigmoid":
      return g.node("HardSigmoid", [x], { alpha: { float: 0.2 }, beta: { float: 0.5 } }, name);
    case "swish":
      return g.node("Mul", [x, g.node("Sigmoid", [x], {}, name)], {}, name);
    case "softmax":
      return g.node("Softmax", [x], { axis: graphAxis(-1, rankWithBatch) }, name);
    default:
      throw unsupported(name, c.className, `activation ${activation}`);
  }
}

interface ConvSpec {
  input: Value;
  weight: Float32Array;
  dims: [number, number, number, number];
  bias?: Float32Array;
  group: number;
  strides: [number, number];
  dilations: [number, number];
  padding: string;
}

/** A Conv node; zero padding pending on the input and TF's asymmetric "same" padding become explicit pads. */
function emitConv(c: LayerCall, s: ConvSpec, hint: string): string {
  const { g } = c;
  const [, , kh, kw] = s.dims;
  let input = s.input.name;
  let pads = s.input.pendingPads ?? [0, 0, 0, 0]; // top, bottom, left, right
  const attrs: Record<string, number[] | number | string> = {
    kernel_shape: [kh, kw],
    strides: s.strides,
    dilations: s.dilations,
    group: s.group,
  };
  if (s.padding === "same") {
    const [h, w] = s.input.shape;
    if (h === null || w === null) {
      if (s.dilations.some((d) => d !== 1)) throw unsupported(c.name, c.className, "dilated 'same' convolution on an input of unknown size");
      // Unknown input size: ONNX's SAME_UPPER is TF's rule (extra padding at the end).
      input = g.materialize(s.input, hint);
      pads = [0, 0, 0, 0];
      attrs.auto_pad = "SAME_UPPER";
    } else {
      const [t, b] = samePadding(h, kh, s.strides[0], s.dilations[0]);
      const [l, r] = samePadding(w, kw, s.strides[1], s.dilations[1]);
      pads = [pads[0] + t, pads[1] + b, pads[2] + l, pads[3] + r];
    }
  } else if (s.padding !== "valid") {
    throw unsupported(c.name, c.className, `padding ${s.padding}`);
  }
  if (!attrs.auto_pad) attrs.pads = [pads[0], pads[2], pads[1], pads[3]];
  const inputs = [input, g.weight(`${hint}/W`, s.dims, s.weight)];
  if (s.bias) inputs.push(g.weight(`${hint}/B`, [s.bias.length], s.bias));
  return g.node("Conv", inputs, attrs, hint);
}

function convCommon(c: LayerCall) {
  requireChannelsLast(c);
  return {
    strides: pair(c.config.strides, 1),
    dilations: pair(c.config.dilationRate, 1),
    padding: cfg<string>(c, "padding", "valid"),
    activation: cfg<string>(c, "activation", "linear"),
    useBias: cfg(c, "useBias", true),
  };
}

/** Finishes a conv-like layer: the bias is kept for BatchNormalization folding unless an activation follows. */
function convOutput(c: LayerCall, out: string, weight: Float32Array, bias: Float32Array, activation: string): Value {
  if (activation === "linear") return { name: out, shape: c.outShape, fold: { weight, bias, channelAxisLast: false } };
  return { name: applyActivation(c, out, activation, 4), shape: c.outShape };
}

const conv2d: Handler = (c) => {
  const o = convCommon(c);
  const [kernel, biasW] = c.weights();
  const [kh, kw, cin, cout] = kernel.shape;
  const weight = convKernelToOnnx(kernel.data, kernel.shape);
  const bias = o.useBias && biasW ? biasW.data : new Float32Array(cout);
  const out = emitConv(c, { input: only(c), weight, dims: [cout, cin, kh, kw], bias, group: 1, ...o }, c.name);
  return convOutput(c, out, weight, bias, o.activation);
};

const depthwiseConv2d: Handler = (c) => {
  const o = convCommon(c);
  const [kernel, biasW] = c.weights();
  const [kh, kw, cin, mult] = kernel.shape;
  const weight = depthwiseKernelToOnnx(kernel.data, kernel.shape);
  const bias = o.useBias && biasW ? biasW.data : new Float32Array(cin * mult);
  const out = emitConv(c, { input: only(c), weight, dims: [cin * mult, 1, kh, kw], bias, group: cin, ...o }, c.name);
  return convOutput(c, out, weight, bias, o.activation);
};

const separableConv2d: Handler = (c) => {
  const o = convCommon(c);
  const [depthwise, pointwise, biasW] = c.weights();
  const [kh, kw, cin, mult] = depthwise.shape;
  const cout = pointwise.shape[3];
  const dw = depthwiseKernelToOnnx(depthwise.data, depthwise.shape);
  const mid = emitConv(c, { input: only(c), weight: dw, dims: [cin * mult, 1, kh, kw], group: cin, ...o }, `${c.name}/depthwise`);
  const weight = convKernelToOnnx(pointwise.data, pointwise.shape);
  const bias = o.useBias && biasW ? biasW.data : new Float32Array(cout);
  const pw = { name: mid, shape: c.outShape };
  const out = emitConv(
    c,
    { input: pw, weight, dims: [cout, cin * mult, 1, 1], bias, group: 1, strides: [1, 1], dilations: [1, 1], padding: "valid" },
    `${c.name}/pointwise`,
  );
  return convOutput(c, out, weight, bias, o.activation);
};

const dense: Handler = (c) => {
  const { g, name } = c;
  const x = only(c);
  const [kernel, biasW] = c.weights();
  const cout = kernel.shape[1];
  const weight = kernel.data;
  const bias = cfg(c, "useBias", true) && biasW ? biasW.data : new Float32Array(cout);
  const activation = cfg<string>(c, "activation", "linear");
  const rank = x.shape.length + 1;
  let out: string;
  if (rank === 2) {
    out = g.node("Gemm", [g.materialize(x, name), g.weight(`${name}/W`, kernel.shape, weight), g.weight(`${name}/B`, [cout], bias)], {}, name);
  } else {
    // Dense acts on the last Keras axis: channels, for images.
    const mm = g.node("MatMul", [g.kerasOrder(x, name), g.weight(`${name}/W`, kernel.shape, weight)], {}, name);
    out = g.graphOrder(g.node("Add", [mm, g.weight(`${name}/B`, [cout], bias)], {}, name), c.outShape, name);
  }
  if (activation === "linear") return { name: out, shape: c.outShape, fold: { weight, bias, channelAxisLast: true } };
  return { name: applyActivation(c, out, activation, rank), shape: c.outShape };
};

const batchNormalization: Handler = (c) => {
  const { g, name } = c;
  const x = only(c);
  const rank = x.shape.length + 1;
  const axis = cfg<number | number[]>(c, "axis", -1);
  const a = Array.isArray(axis) && axis.length === 1 ? axis[0] : axis;
  if (typeof a !== "number" || (a < 0 ? a + rank : a) !== rank - 1) throw unsupported(name, c.className, `axis ${JSON.stringify(axis)} is not the channel axis`);
  const w = c.weights();
  let i = 0;
  const gamma = cfg(c, "scale", true) ? w[i++].data : undefined;
  const beta = cfg(c, "center", true) ? w[i++].data : undefined;
  const mean = w[i++].data;
  const variance = w[i++].data;
  const eps = cfg(c, "epsilon", 1e-3);
  const ch = mean.length;
  const scale = new Float32Array(ch);
  const shift = new Float32Array(ch);
  for (let k = 0; k < ch; k++) {
    scale[k] = (gamma ? gamma[k] : 1) / Math.sqrt(variance[k] + eps);
    shift[k] = (beta ? beta[k] : 0) - mean[k] * scale[k];
  }
  if (x.fold && !x.pendingPads) {
    foldScaleShift(x.fold, scale, shift);
    g.foldedBatchNorms++;
    return { name: x.name, shape: c.outShape, fold: x.fold };
  }
  const dims = rank === 4 ? [ch, 1, 1] : [ch];
  const xs = g.materialize(x, name);
  const mul = g.node("Mul", [xs, g.weight(`${name}/scale`, dims, scale)], {}, name);
  return { name: g.node("Add", [mul, g.weight(`${name}/shift`, dims, shift)], {}, name), shape: c.outShape };
};

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
