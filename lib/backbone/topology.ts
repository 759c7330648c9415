/**
 * Keras model topologies (the `modelTopology` of a tfjs layers model.json) as plain JSON: list layers,
 * keep only what a cut layer needs before anything is built (so unused weights are never decoded), and
 * change the input size. Both functional ("Model"/"Functional") and "Sequential" configs are handled.
 */
import { CbirError, closestNames } from "../errors";

export interface KerasLayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes?: unknown[];
}

type Json = Record<string, unknown>;

/** The model_config inside a modelTopology (the converter nests it; some writers do not). */
function modelConfig(topology: Json): Json {
  const mc = (topology.model_config ?? topology) as Json;
  if (!mc || typeof mc !== "object" || typeof mc.class_name !== "string") throw new Error("no model_config");
  return mc;
}

function layerArray(mc: Json): KerasLayerJson[] {
  const cfg = mc.config as Json | KerasLayerJson[];
  const layers = Array.isArray(cfg) ? cfg : (cfg?.layers as KerasLayerJson[]);
  if (!Array.isArray(layers)) throw new Error("no layers");
  return layers;
}

function isSequential(mc: Json): boolean {
  return mc.class_name === "Sequential";
}

/** Validates the shape of a topology; anything else is a malformed model.json. */
export function checkTopology(topology: unknown, file: string): Json {
  try {
    const mc = modelConfig(topology as Json);
    const layers = layerArray(mc);
    if (!layers.every((l) => l && typeof l.class_name === "string" && (typeof l.name === "string" || typeof (l.config as Json)?.name === "string")))
      throw new Error("layer without name");
    return topology as Json;
  } catch (e) {
    throw new CbirError("E_MODEL_FILE", `not a Keras layers model topology (${(e as Error).message}).`, {
      file,
      fix: "give a TensorFlow.js layers model.json (format \"layers-model\"), not a graph model or a truncated file.",
    });
  }
}

export function layerName(l: KerasLayerJson): string {
  return l.name ?? String((l.config as Json).name);
}

/** Layer names in definition order. */
export function topologyLayerNames(topology: Json): string[] {
  return layerArray(modelConfig(topology)).map(layerName);
}

export function topologyLayerClasses(topology: Json): { name: string; className: string }[] {
  return layerArray(modelConfig(topology)).map((l) => ({ name: layerName(l), className: l.class_name }));
}

/** Names of the layers feeding `layer` directly, from its inbound_nodes (old list form or newer keras_history form). */
function inboundNames(l: KerasLayerJson): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) {
      if (typeof v[0] === "string" && typeof v[1] === "number" && typeof v[2] === "number") out.push(v[0]);
      else v.forEach(walk);
    } else if (v && typeof v === "object") {
      const o = v as Json;
      if (Array.isArray(o.keras_history) && typeof o.keras_history[0] === "string") out.push(o.keras_history[0]);
      else Object.values(o).forEach(walk);
    }
  };
  walk(l.inbound_nodes ?? []);
  return out;
}

/** The layers `cut` depends on, itself included. */
export function ancestorsOf(topology: Json, cut: string): Set<string> {
  const mc = modelConfig(topology);
  const layers = layerArray(mc);
  if (isSequential(mc)) {
    const idx = layers.findIndex((l) => layerName(l) === cut);
    return new Set(layers.slice(0, idx + 1).map(layerName));
  }
  const byName = new Map(layers.map((l) => [layerName(l), l]));
  const seen = new Set<string>();
  const stack = [cut];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    const l = byName.get(n);
    if (l) stack.push(...inboundNames(l));
  }
  return seen;
}

/** Throws E_UNKNOWN_LAYER listing the closest names. */
export function unknownLayer(wanted: string, names: readonly string[], model: string): CbirError {
  const close = closestNames(wanted, names);
  return new CbirError("E_UNKNOWN_LAYER", `layer '${wanted}' is not in ${model}. Closest names: ${close.join(", ")}.`, {
    fix: `choose one of the ${names.length} layers listed by \`cbir layers ${model}\`.`,
  });
}

/** A copy of `topology` that ends at `cut` and holds only the layers it needs. */
export function pruneTopology(topology: Json, cut: string, modelName = "the model"): Json {
  const mc = modelConfig(topology);
  const layers = layerArray(mc);
  const names = layers.map(layerName);
  if (!names.includes(cut)) throw unknownLayer(cut, names, modelName);
  const keep = ancestorsOf(topology, cut);
  const kept = layers.filter((l) => keep.has(layerName(l)));
  let newMc: Json;
  if (isSequential(mc)) {
    newMc = Array.isArray(mc.config) ? { ...mc, config: kept } : { ...mc, config: { ...(mc.config as Json), layers: kept } };
  } else {
    const cfg = mc.config as Json;
    const inputs = (cfg.input_layers as unknown[]).filter((x) => Array.isArray(x) && keep.has(String(x[0])));
    newMc = { ...mc, config: { ...cfg, layers: kept, input_layers: inputs, output_layers: [[cut, 0, 0]] } };
  }
  return topology.model_config ? { ...topology, model_config: newMc } : newMc;
}

/** A copy of `topology` whose input layers take [height, width] images. */
export function withInputSize(topology: Json, size: [number, number]): Json {
  const copy = JSON.parse(JSON.stringify(topology)) as Json;
  const mc = modelConfig(copy);
  const layers = layerArray(mc);
  const targets = isSequential(mc) ? [layers[0]] : layers.filter((l) => l.class_name === "InputLayer");
  for (const l of targets) {
    const cfg = l.config as Json;
    const key = cfg.batch_input_shape ? "batch_input_shape" : cfg.batch_shape ? "batch_shape" : "batch_input_shape";
    const shape = (cfg[key] as (number | null)[] | undefined) ?? [null, null, null, 3];
    if (shape.length === 4) cfg[key] = [shape[0], size[0], size[1], shape[3]];
  }
  return copy;
}

/** Input [height, width] declared by the first input layer, or undefined when it is not fixed. */
export function declaredInputSize(topology: Json): [number, number] | undefined {
  const mc = modelConfig(topology);
  const layers = layerArray(mc);
  const first = isSequential(mc) ? layers[0] : layers.find((l) => l.class_name === "InputLayer");
  const cfg = (first?.config ?? {}) as Json;
  const shape = (cfg.batch_input_shape ?? cfg.batch_shape) as (number | null)[] | undefined;
  if (shape && shape.length === 4 && typeof shape[1] === "number" && typeof shape[2] === "number") return [shape[1], shape[2]];
  return undefined;
}

/** Layer class names that tfjs cannot build, with the first layer using each. */
export function unsupportedClasses(topology: Json, known: (className: string) => boolean): { className: string; layer: string }[] {
  const out = new Map<string, string>();
  for (const l of layerArray(modelConfig(topology))) if (!known(l.class_name) && !out.has(l.class_name)) out.set(l.class_name, layerName(l));
  return [...out].map(([className, layer]) => ({ className, layer }));
}
