/**
 * Building blocks of the Keras-to-ONNX export: the graph under construction and the values flowing in it.
 *
 * Layout rule: every rank-4 value is kept NCHW inside the ONNX graph (what ONNX Runtime's convolutions and
 * pools want); every other rank keeps the Keras layout. Shapes are always tracked in Keras order (NHWC,
 * without the batch), so layers that care about element order (Flatten, Reshape, Dense on images) go back
 * to NHWC first. The graph input is NHWC and the output is transposed back, so ONNX Runtime's output
 * equals tfjs's output flattened.
 */
import { CbirError } from "../errors";
import type { AttributeValue, OnnxInitializer, OnnxNode } from "./onnx-model";

/** Weights of a node that a following BatchNormalization may be folded into (scaled per output channel). */
export interface FoldableWeights {
  /** Conv: [out, in/group, kh, kw] (channel axis first). Gemm: [in, out] (channel axis last). */
  weight: Float32Array;
  channelAxisLast: boolean;
  bias: Float32Array;
}

/** A tensor of the exported graph, as seen by the next layer. */
export interface Value {
  /** ONNX tensor name. */
  name: string;
  /** Keras shape without the batch dimension (NHWC for images); null where unknown. */
  shape: (number | null)[];
  /** Set while this value is a convolution or dense output that nothing else has used yet. */
  fold?: FoldableWeights;
  /**
   * Zero padding not yet applied ([top, bottom, left, right]): a ZeroPadding2D is merged into the
   * convolution that follows it; any other consumer materialises it as a Pad node.
   */
  pendingPads?: [number, number, number, number];
  /** The Pad node's output once the pending padding has been materialised (shared by all consumers). */
  padded?: string;
}

export function unsupported(layerName: string, className: string, why?: string): CbirError {
  return new CbirError(
    "E_UNSUPPORTED_LAYER",
    `layer '${layerName}' of type ${className} cannot be exported to ONNX${why ? ` (${why})` : ""}.`,
    { fix: "use the tfjs runtime (runtime: \"tfjs\"), or cut the network at an earlier layer." },
  );
}

export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  /** BatchNormalization layers folded into the preceding convolution or dense layer. */
  foldedBatchNorms = 0;
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();

  /** A tensor name not used yet, derived from `hint` (Keras layer names are unique, but one layer may emit several tensors). */
  unique(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_./:-]/g, "_") || "t";
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  reserve(name: string): void {
    this.used.add(name);
  }

  /** Adds a node with one output and returns the output's name. */
  node(op: string, inputs: string[], attributes: Record<string, AttributeValue>, hint: string, output?: string): string {
    const out = output ?? this.unique(hint);
    this.nodes.push({ op, inputs, outputs: [out], name: this.unique(`${hint}/${op}`), attributes });
    return out;
  }

  weight(hint: string, dims: number[], data: Float32Array): string {
    const name = this.unique(hint);
    this.initializers.push({ name, dims, data });
    return name;
  }

  /** Small int64 constants (shapes, pads, axes), shared between nodes. */
  int64(values: number[]): string {
    const key = `i64:${values.join(",")}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.unique(`const_i64_${values.join("_").replace(/-/g, "m")}`);
      this.initializers.push({ name, dims: [values.length], data: { int64: values } });
      this.constants.set(key, name);
    }
    return name;
  }

  /** Scalar float constants (Clip bounds, scales), shared between nodes. */
  scalar(value: number): string {
    const key = `f32:${value}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.unique(`const_f32_${String(value).replace(/[^0-9a-z]/gi, "_")}`);
      this.initializers.push({ name, dims: [], data: Float32Array.of(value) });
      this.constants.set(key, name);
    }
    return name;
  }

  /** The value as a real tensor: applies pending zero padding. */
  materialize(v: Value, hint: string): string {
    if (!v.pendingPads) return v.name;
    const [t, b, l, r] = v.pendingPads;
    // NCHW pads: [n, c, top, left, n, c, bottom, right]
    v.padded ??= this.node("Pad", [v.name, this.int64([0, 0, t, l, 0, 0, b, r])], { mode: "constant" }, `${hint}/pad`);
    return v.padded;
  }

  /** The value in Keras element order (NHWC for rank-4 values). */
  kerasOrder(v: Value, hint: string): string {
    const name = this.materialize(v, hint);
    return v.shape.length === 3 ? this.node("Transpose", [name], { perm: [0, 2, 3, 1] }, `${hint}/to_nhwc`) : name;
  }

  /** A Keras-ordered tensor of the given Keras shape back in graph layout. */
  graphOrder(name: string, shape: (number | null)[], hint: string): string {
    return shape.length === 3 ? this.node("Transpose", [name], { perm: [0, 3, 1, 2] }, `${hint}/to_nchw`) : name;
  }
}

/** Keras axis (counting the batch, negative from the end) to the axis of the graph layout. */
export function graphAxis(kerasAxis: number, rankWithBatch: number): number {
  const a = kerasAxis < 0 ? kerasAxis + rankWithBatch : kerasAxis;
  if (a < 0 || a >= rankWithBatch) throw new Error(`axis ${kerasAxis} out of range for rank ${rankWithBatch}`);
  return rankWithBatch === 4 ? [0, 2, 3, 1][a] : a;
}

/**
 * TensorFlow's "same" padding for one spatial axis: the total is split with the extra pixel at the end
 * (ONNX's SAME_UPPER), e.g. a 3x3 stride-2 convolution on 224 pads 0 before and 1 after.
 */
export function samePadding(size: number, kernel: number, stride: number, dilation: number): [number, number] {
  const effective = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  const begin = Math.floor(total / 2);
  return [begin, total - begin];
}

/** Keras kernel [kh, kw, in, out] to ONNX [out, in, kh, kw]. */
export function convKernelToOnnx(k: Float32Array, [kh, kw, cin, cout]: number[]): Float32Array {
  const w = new Float32Array(k.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++) {
        const src = ((y * kw + x) * cin + i) * cout;
        for (let o = 0; o < cout; o++) w[((o * cin + i) * kh + y) * kw + x] = k[src + o];
      }
  return w;
}

/** Keras depthwise kernel [kh, kw, in, mult] to ONNX grouped [in * mult, 1, kh, kw] (output channel c * mult + m, as TF). */
export function depthwiseKernelToOnnx(k: Float32Array, [kh, kw, cin, mult]: number[]): Float32Array {
  const w = new Float32Array(k.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let c = 0; c < cin; c++)
        for (let m = 0; m < mult; m++) w[((c * mult + m) * kh + y) * kw + x] = k[((y * kw + x) * cin + c) * mult + m];
  return w;
}

/** Scales the weights and bias of `fold` per output channel: the folded form of y = x * scale + shift. */
export function foldScaleShift(fold: FoldableWeights, scale: Float32Array, shift: Float32Array): void {
  const c = scale.length;
  const { weight, bias } = fold;
  if (bias.length !== c) throw new Error(`fold: ${bias.length} channels vs ${c}`);
  if (fold.channelAxisLast) {
    for (let i = 0; i < weight.length; i++) weight[i] *= scale[i % c];
  } else {
    const per = weight.length / c;
    for (let o = 0; o < c; o++) for (let j = o * per; j < (o + 1) * per; j++) weight[j] *= scale[o];
  }
  for (let o = 0; o < c; o++) bias[o] = bias[o] * scale[o] + shift[o];
}
