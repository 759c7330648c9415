/**
 * The handlers of the weighted Keras layers: Conv2D, DepthwiseConv2D, SeparableConv2D, Dense and
 * BatchNormalization (folded into the preceding conv or dense when nothing lies between them).
 */
import { type Value, convKernelToOnnx, depthwiseKernelToOnnx, foldScaleShift, samePadding, unsupported } from "./graph";
import { applyActivation, cfg, only, pair, requireChannelsLast, type Handler, type LayerCall } from "./layer-call";

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

export const conv2d: Handler = (c) => {
  const o = convCommon(c);
  const [kernel, biasW] = c.weights();
  const [kh, kw, cin, cout] = kernel.shape;
  const weight = convKernelToOnnx(kernel.data, kernel.shape);
  const bias = o.useBias && biasW ? biasW.data : new Float32Array(cout);
  const out = emitConv(c, { input: only(c), weight, dims: [cout, cin, kh, kw], bias, group: 1, ...o }, c.name);
  return convOutput(c, out, weight, bias, o.activation);
};

export const depthwiseConv2d: Handler = (c) => {
  const o = convCommon(c);
  const [kernel, biasW] = c.weights();
  const [kh, kw, cin, mult] = kernel.shape;
  const weight = depthwiseKernelToOnnx(kernel.data, kernel.shape);
  const bias = o.useBias && biasW ? biasW.data : new Float32Array(cin * mult);
  const out = emitConv(c, { input: only(c), weight, dims: [cin * mult, 1, kh, kw], bias, group: cin, ...o }, c.name);
  return convOutput(c, out, weight, bias, o.activation);
};

export const separableConv2d: Handler = (c) => {
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

export const dense: Handler = (c) => {
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

export const batchNormalization: Handler = (c) => {
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
