/**
 * Where a network comes from, before anything is built: a Keras topology plus a weight manifest and a way
 * to read its shards (nsfwjs bundle, model.json on disk or online, model zoo), or a tfjs graph model.
 * Building is done here once for every layers source, so pruning, input-size changes, unsupported-layer
 * checks and weight hashing behave the same whatever the origin.
 */
import { CbirError } from "../errors";
import type { LayerInfo, PreprocessMode, ResizeMode } from "./types";
import { getTf } from "./tf";
import type * as tfTypes from "@tensorflow/tfjs";
import { declaredInputSize, pruneTopology, topologyLayerNames, unknownLayer, unsupportedClasses, ancestorsOf, withInputSize } from "./topology";
import { belongsToLayers, collectWeights, type WeightsGroup } from "./weights";

type Json = Record<string, unknown>;

/** What a backbone uses unless told otherwise. */
export interface BackboneDefaults {
  layer: string;
  inputSize: [number, number];
  preprocessing: PreprocessMode;
  resize: ResizeMode;
}

interface SourceBase {
  /** Identity in fingerprints, e.g. "nsfwjs:inception_v3". */
  id: string;
  /** Name as the user gave it, for messages. */
  name: string;
  /** The file the model was read from, for error messages. */
  file: string;
  manifest: WeightsGroup[];
  /** Reads one shard; more than `maxBytes` (what the manifest still expects) is refused, E_MODEL_FILE. */
  readShard(shardPath: string, maxBytes?: number): Promise<Uint8Array>;
  /** Full path or URL of a shard, for error messages. */
  shardFile?(shardPath: string): string;
  defaults: BackboneDefaults;
}

export interface LayersSource extends SourceBase {
  kind: "layers";
  /** The `modelTopology` of the model.json. */
  topology: Json;
  /** Last layer offered (the classification head after it is dropped); undefined offers the whole model. */
  lastLayer?: string;
}

export interface GraphSource extends SourceBase {
  kind: "graph";
  /** The whole model.json (format "graph-model"). */
  artifacts: Json;
  /** Short layer names (e.g. "Conv_1") to graph node names. */
  aliases: Map<string, string>;
}

export type ModelSource = LayersSource | GraphSource;

/** Layer names a layers source offers as cut points, in definition order. */
export function offeredLayers(src: LayersSource): string[] {
  const names = topologyLayerNames(src.topology);
  if (!src.lastLayer) return names;
  const keep = ancestorsOf(src.topology, src.lastLayer);
  return names.filter((n) => keep.has(n));
}

export interface BuiltModel {
  model: tfTypes.LayersModel;
  /** sha256 of the weight bytes the built model uses. */
  weightsHash: string;
}

/**
 * Builds the model of a layers source, ending at `cut` (default: its last offered layer), holding only the
 * layers and weights that the cut needs.
 */
export async function buildFromSource(src: LayersSource, cut?: string, inputSize?: [number, number]): Promise<BuiltModel> {
  const tf = await getTf();
  const end = cut ?? src.lastLayer;
  let topology = src.topology;
  if (end !== undefined) {
    const offered = offeredLayers(src);
    if (!offered.includes(end)) throw unknownLayer(end, offered, src.name);
    topology = pruneTopology(topology, end, src.name);
  }
  const declared = declaredInputSize(topology);
  if (inputSize && (!declared || declared[0] !== inputSize[0] || declared[1] !== inputSize[1])) topology = withInputSize(topology, inputSize);

  const known = tf.serialization.SerializationMap.getMap().classNameMap;
  const missing = unsupportedClasses(topology, (c) => c in known);
  if (missing.length) {
    throw new CbirError(
      "E_UNSUPPORTED_LAYER",
      `TensorFlow.js cannot build layer type ${missing.map((m) => `'${m.className}' (layer '${m.layer}')`).join(", ")}.`,
      { file: src.file, fix: "cut the network before that layer, or convert the model without it." },
    );
  }
  const kept = new Set(topologyLayerNames(topology));
  const weights = await collectWeights(src.manifest, src.readShard, belongsToLayers(kept), src.file, src.shardFile);
  let model: tfTypes.LayersModel;
  try {
    model = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: topology, weightSpecs: weights.specs as tfTypes.io.WeightsManifestEntry[], weightData: weights.data }),
    );
  } catch (e) {
    const msg = String((e as Error).message ?? e).split("\n")[0];
    if (inputSize && declared && (inputSize[0] !== declared[0] || inputSize[1] !== declared[1])) {
      throw new CbirError("E_BAD_OPTION", `${src.name} cannot take ${inputSize[0]}x${inputSize[1]} inputs up to this layer (${msg}).`, {
        fix: `use inputSize [${declared[0]}, ${declared[1]}], or cut before the first Flatten/Dense layer.`,
      });
    }
    throw new CbirError("E_MODEL_FILE", `the model could not be built (${msg}).`, { file: src.file, fix: "check that model.json and its weight files belong together.", cause: e });
  }
  return { model, weightsHash: weights.hash };
}

/** A native ONNX file used as a backbone as it is: runs with ONNX Runtime only, cut at one of its graph outputs. */
export interface OnnxFileModel {
  kind: "onnx";
  id: string;
  file: string;
  defaults: BackboneDefaults;
  /** The model's input: its name, layout and static [height, width] when it declares them. */
  input: { name: string; layout: "NHWC" | "NCHW"; size?: [number, number] };
  /** Graph outputs (the cut points), in graph order, with the shape without batch (-1: open). */
  outputs: LayerInfo[];
  /** sha256 of the file bytes, for the fingerprint. */
  weightsHash: string;
}

/** What a source resolves a name to: something buildable by tfjs (layers or graph), or a native ONNX file. */
export type ResolvedModel =
  | {
      kind: "layers";
      id: string;
      defaults: BackboneDefaults;
      /** Builds the network up to `cut` (default: every offered layer). */
      build(cut: string | undefined, inputSize: [number, number] | undefined): Promise<BuiltModel>;
      /** Lists the layers without reading weights, when the source can (Keras architectures). */
      list?(): Promise<LayerInfo[]>;
    }
  | { kind: "graph"; id: string; defaults: BackboneDefaults; source: GraphSource }
  | OnnxFileModel;

/** The resolved form of a tfjs model source. */
export function resolvedFrom(src: ModelSource): ResolvedModel {
  if (src.kind === "graph") return { kind: "graph", id: src.id, defaults: src.defaults, source: src };
  return { kind: "layers", id: src.id, defaults: src.defaults, build: (cut, size) => buildFromSource(src, cut, size) };
}
