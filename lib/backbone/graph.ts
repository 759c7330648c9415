/**
 * tfjs graph models (only `nsfwjs/mobilenet_v2_mid` for now): loaded whole, executed up to one node.
 * Graph nodes have no static shapes, so listing layers runs the network once on a zero image.
 */
import type * as tfTypes from "@tensorflow/tfjs";
import { CbirError } from "../errors";
import type { LayerInfo } from "./types";
import type { GraphSource } from "./source";
import { getTf } from "./tf";
import { unknownLayer } from "./topology";
import { collectWeights } from "./weights";

interface GraphNodeJson {
  name: string;
  op: string;
  input?: string[];
}

function nodesOf(src: GraphSource): GraphNodeJson[] {
  return ((src.artifacts.modelTopology as { node?: GraphNodeJson[] }).node ?? []).filter((n) => n && typeof n.name === "string");
}

/** Loads the whole graph; returns it with the sha256 of its weights. */
export async function loadGraph(src: GraphSource): Promise<{ model: tfTypes.GraphModel; weightsHash: string }> {
  const tf = await getTf();
  const weights = await collectWeights(src.manifest, src.readShard, () => true, src.file, src.shardFile);
  const { weightsManifest: _omit, ...rest } = src.artifacts;
  try {
    const model = await tf.loadGraphModel(
      tf.io.fromMemory({ ...(rest as object), weightSpecs: weights.specs as tfTypes.io.WeightsManifestEntry[], weightData: weights.data }),
    );
    return { model, weightsHash: weights.hash };
  } catch (e) {
    throw new CbirError("E_MODEL_FILE", `the graph model could not be built (${String((e as Error).message).split("\n")[0]}).`, {
      file: src.file,
      fix: "reinstall the package that provides it.",
      cause: e,
    });
  }
}

/** [height, width] fixed by the graph's input placeholder, when it fixes them. */
export function graphInputSize(artifacts: Record<string, unknown>): [number, number] | undefined {
  const nodes = ((artifacts.modelTopology as { node?: { op: string; attr?: { shape?: { shape?: { dim?: { size?: string | number }[] } } } }[] })?.node ?? []);
  const dims = nodes.find((n) => n.op === "Placeholder")?.attr?.shape?.shape?.dim;
  if (!dims || dims.length !== 4) return undefined;
  const [h, w] = [Number(dims[1].size), Number(dims[2].size)];
  return h > 0 && w > 0 ? [h, w] : undefined;
}

/** Graph models check their input against the placeholder's shape: another size cannot run. */
export function checkGraphInputSize(src: GraphSource, size: [number, number]): void {
  const fixed = graphInputSize(src.artifacts);
  if (fixed && (fixed[0] !== size[0] || fixed[1] !== size[1]))
    throw new CbirError("E_BAD_OPTION", `${src.name} is a graph model with a fixed ${fixed[0]}x${fixed[1]} input; it cannot take ${size[0]}x${size[1]}.`, {
      fix: `leave inputSize at ${fixed[0]}.`,
    });
}

/** The graph node a layer name stands for (a short alias or a full node name). */
export function resolveGraphNode(src: GraphSource, layer: string): string {
  const alias = src.aliases.get(layer);
  if (alias) return alias;
  // full node names are accepted too, but only for offered nodes (the nsfwjs head is not offered)
  if (new Set(src.aliases.values()).has(layer)) return layer;
  throw unknownLayer(layer, [...displayNames(src).values()], src.name);
}

/** Short display name of a node: its alias below the common prefix when there is one. */
function displayNames(src: GraphSource): Map<string, string> {
  const out = new Map<string, string>();
  for (const [alias, node] of src.aliases) {
    const prev = out.get(node);
    if (!prev || alias.length > prev.length) out.set(node, alias); // prefer "Conv_1/Relu6" over "Conv_1"
  }
  return out;
}

/** Every offered computing node, with its op, output shape for one image and the size of its constant inputs. */
export async function listGraphLayers(src: GraphSource, model: tfTypes.GraphModel, inputSize: [number, number]): Promise<LayerInfo[]> {
  const tf = await getTf();
  const nodes = nodesOf(src);
  const constSize = new Map<string, number>();
  for (const n of nodes) {
    if (n.op !== "Const") continue;
    const spec = src.manifest.flatMap((g) => g.weights).find((w) => w.name === n.name);
    constSize.set(n.name, spec ? spec.shape.reduce((a, b) => a * b, 1) : 0);
  }
  const display = displayNames(src);
  const computing = nodes.filter((n) => n.op !== "Const" && n.op !== "Placeholder" && display.has(n.name));
  const shapes = tf.tidy(() => {
    const outs = model.execute(tf.zeros([1, inputSize[0], inputSize[1], 3]), computing.map((n) => n.name)) as tfTypes.Tensor[];
    return outs.map((t) => t.shape.slice(1));
  });
  return computing.map((n, i) => ({
    name: display.get(n.name) ?? n.name,
    type: n.op,
    outputShape: shapes[i],
    params: (n.input ?? []).reduce((a, inp) => a + (constSize.get(inp.split(":")[0]) ?? 0), 0),
  }));
}
