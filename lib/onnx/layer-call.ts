/**
 * What a layer handler (layers.ts) receives and the helpers every handler uses: the layer's config, its
 * inputs in graph layout, its weights, and Keras activations as ONNX nodes.
 */
import { GraphBuilder, type Value, graphAxis, unsupported } from "./graph";

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

export function cfg<T>(c: LayerCall, key: string, fallback: T): T {
  const v = c.config[key];
  return v === undefined || v === null ? fallback : (v as T);
}

export function pair(v: unknown, fallback: number): [number, number] {
  if (typeof v === "number") return [v, v];
  if (Array.isArray(v)) return [Number(v[0]), Number(v[v.length > 1 ? 1 : 0])];
  return [fallback, fallback];
}

export function requireChannelsLast(c: LayerCall): void {
  const fmt = cfg(c, "dataFormat", "channelsLast");
  if (fmt !== "channelsLast") throw unsupported(c.name, c.className, `dataFormat ${String(fmt)}`);
}

export function only(c: LayerCall): Value {
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
