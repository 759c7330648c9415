/**
 * Export a (truncated) tfjs LayersModel to an ONNX model (opset 13).
 *
 * The graph is walked from the model's output back through the symbolic tensors (each records the layer
 * that made it and that layer's inputs), so only the layers the cut model really uses are exported, and a
 * layer called twice is exported twice. The input is NHWC ("input", batch dimension "batch") and is
 * transposed to NCHW inside the graph; the output ("output") is in Keras order, so its values equal tfjs's
 * output flattened.
 */
import type * as tf from "@tensorflow/tfjs";
import { CbirError } from "../errors";
import { GraphBuilder, type Value, unsupported } from "./graph";
import { layerHandler } from "./layers";
import type { LayerWeight } from "./layer-call";
import { type OnnxDim, serializeModel } from "./onnx-model";

/** Bumped whenever the exporter's output changes, so cached .onnx files from older versions are not reused. */
export const EXPORTER_VERSION = "1";

export const ONNX_INPUT_NAME = "input";
export const ONNX_OUTPUT_NAME = "output";

export interface OnnxExport {
  /** The serialised ModelProto. */
  bytes: Uint8Array;
  /** Keras input shape without batch, e.g. [224, 224, 3]. */
  inputShape: (number | null)[];
  /** Keras output shape without batch, e.g. [7, 7, 1280]. */
  outputShape: (number | null)[];
  nodeCount: number;
  /** Keras layers exported (InputLayer and identity layers included). */
  layerCount: number;
  foldedBatchNorms: number;
}

type SymbolicTensor = tf.SymbolicTensor;
type Layer = SymbolicTensor["sourceLayer"];

function isModel(layer: Layer): layer is Layer & tf.LayersModel {
  const m = layer as unknown as Partial<tf.LayersModel>;
  return Array.isArray(m.layers) && Array.isArray(m.inputs) && Array.isArray(m.outputs);
}

/** Tensors needed for `outputs`, inputs before their consumers, without recursion (deep networks). */
function topologicalOrder(outputs: SymbolicTensor[], stopAt: Set<number>): SymbolicTensor[] {
  const order: SymbolicTensor[] = [];
  const done = new Set<number>();
  const stack: { t: SymbolicTensor; expanded: boolean }[] = outputs.map((t) => ({ t, expanded: false }));
  while (stack.length) {
    const top = stack.pop()!;
    if (done.has(top.t.id)) continue;
    if (top.expanded || stopAt.has(top.t.id)) {
      done.add(top.t.id);
      order.push(top.t);
      continue;
    }
    stack.push({ t: top.t, expanded: true });
    for (const i of [...top.t.inputs].reverse()) if (!done.has(i.id)) stack.push({ t: i, expanded: false });
  }
  return order;
}

function readWeights(layer: Layer): LayerWeight[] {
  // getWeights() hands out the variables themselves: copy, never dispose.
  return layer.getWeights().map((t) => {
    if (t.dtype !== "float32") throw unsupported(layer.name, layer.getClassName(), `weights of type ${t.dtype}`);
    return { data: new Float32Array(t.dataSync() as Float32Array), shape: t.shape };
  });
}

type Shape = (number | null)[];

/**
 * A tensor's Keras shape with the batch: the symbolic one when it is complete, else computed by the layer
 * from its inputs' shapes (models with an open input size, exported for one size).
 */
function shapeOf(t: SymbolicTensor, inputShapes: Shape[]): Shape {
  const known = t.shape.slice(1).every((d) => d !== null);
  if (known || inputShapes.length === 0) return t.shape;
  try {
    const s = t.sourceLayer.computeOutputShape(inputShapes.length === 1 ? inputShapes[0] : inputShapes) as Shape | Shape[];
    const one = Array.isArray(s[0]) ? (s as Shape[])[t.outputTensorIndex ?? 0] : (s as Shape);
    return one.length === t.shape.length ? one : t.shape;
  } catch {
    return t.shape;
  }
}

class Exporter {
  readonly g = new GraphBuilder();
  layerCount = 0;
  private readonly shapes = new Map<number, Shape>();

  constructor(input: SymbolicTensor, inputShape: Shape) {
    this.shapes.set(input.id, inputShape);
  }

  /** Emits the layers between `inputs` (already emitted) and `outputs`; returns the output values. */
  emit(inputs: Map<number, Value>, outputs: SymbolicTensor[]): Value[] {
    const values = new Map(inputs);
    const order = topologicalOrder(outputs, new Set(inputs.keys()));
    const consumers = new Map<number, number>();
    for (const t of order) for (const i of t.inputs) consumers.set(i.id, (consumers.get(i.id) ?? 0) + 1);
    for (const o of outputs) consumers.set(o.id, (consumers.get(o.id) ?? 0) + 2); // outputs are never folded into

    for (const t of order) {
      if (values.has(t.id)) continue;
      const layer = t.sourceLayer;
      const className = layer.getClassName();
      if (className === "InputLayer")
        throw new CbirError("E_UNSUPPORTED_LAYER", `input '${layer.name}' is not the model's input; models with several inputs cannot be exported to ONNX.`, {
          fix: "use the tfjs runtime.",
        });
      const ins = t.inputs.map((i) => values.get(i.id)!);
      const shape = shapeOf(t, t.inputs.map((i) => this.shapes.get(i.id) ?? i.shape));
      this.shapes.set(t.id, shape);
      let v: Value;
      if (isModel(layer)) {
        // A model used as a layer (a base network inside a transfer-learning model): inline it.
        if (layer.inputs.length !== ins.length) throw unsupported(layer.name, className, "nested model inputs do not match");
        const inner = new Map(layer.inputs.map((s, k) => [s.id, ins[k]] as [number, Value]));
        layer.inputs.forEach((s, k) => this.shapes.set(s.id, this.shapes.get(t.inputs[k].id) ?? s.shape));
        const outs = this.emit(inner, layer.outputs);
        v = outs[t.outputTensorIndex ?? 0];
      } else {
        const handler = layerHandler(className);
        if (!handler) throw unsupported(layer.name, className);
        this.layerCount++;
        v = handler({
          g: this.g,
          name: layer.name,
          className,
          config: layer.getConfig() as Record<string, unknown>,
          inputs: ins,
          outShape: shape.slice(1),
          weights: () => readWeights(layer),
        });
      }
      // Folding into a node is only safe while this layer is its sole consumer.
      if (v.fold && consumers.get(t.id) !== 1) v = { ...v, fold: undefined };
      values.set(t.id, v);
    }
    return outputs.map((o) => values.get(o.id)!);
  }
}

function dims(shape: (number | null)[], prefix: string): OnnxDim[] {
  return ["batch", ...shape.map((d, i) => (d === null ? `${prefix}${i + 1}` : d))];
}

export interface ExportOptions {
  graphName?: string;
  /** Input [height, width] to export for when the model leaves it open (a fixed-size model ignores it). */
  inputSize?: [number, number];
}

/** Exports `model` (one input, one output) to ONNX. Throws CbirError("E_UNSUPPORTED_LAYER") naming the first layer it cannot export. */
export function exportLayersModel(model: tf.LayersModel, options: ExportOptions = {}): OnnxExport {
  if (model.inputs.length !== 1 || model.outputs.length !== 1)
    throw new CbirError(
      "E_UNSUPPORTED_LAYER",
      `model '${model.name}' has ${model.inputs.length} inputs and ${model.outputs.length} outputs; the ONNX exporter handles one of each.`,
      { fix: "use the tfjs runtime." },
    );
  const inputT = model.inputs[0];
  const inShape = inputT.shape.slice(1);
  if (options.inputSize && inShape.length === 3) {
    inShape[0] ??= options.inputSize[0];
    inShape[1] ??= options.inputSize[1];
  }
  const ex = new Exporter(inputT, [null, ...inShape]);
  const { g } = ex;
  g.reserve(ONNX_INPUT_NAME);
  g.reserve(ONNX_OUTPUT_NAME);
  const inName = inShape.length === 3 ? g.node("Transpose", [ONNX_INPUT_NAME], { perm: [0, 3, 1, 2] }, "input_nchw") : ONNX_INPUT_NAME;
  const [out] = ex.emit(new Map([[inputT.id, { name: inName, shape: inShape }]]), model.outputs);
  const outShape = out.shape;
  const last = g.kerasOrder(out, "output");
  g.node("Identity", [last], {}, "output", ONNX_OUTPUT_NAME);

  const bytes = serializeModel(
    {
      name: options.graphName ?? model.name,
      nodes: g.nodes,
      initializers: g.initializers,
      input: { name: ONNX_INPUT_NAME, dims: dims(inShape, "in") },
      output: { name: ONNX_OUTPUT_NAME, dims: dims(outShape, "out") },
      docString: `tfjs LayersModel '${model.name}' exported by cbir (exporter ${EXPORTER_VERSION})`,
    },
    EXPORTER_VERSION,
  );
  return {
    bytes,
    inputShape: inShape,
    outputShape: outShape,
    nodeCount: g.nodes.length,
    layerCount: ex.layerCount,
    foldedBatchNorms: g.foldedBatchNorms,
  };
}
