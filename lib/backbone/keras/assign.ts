/**
 * Putting weights into a built architecture: from a Keras .h5 (matched by layer name, or by position the
 * way Keras's own `load_weights` does when names differ), or seeded random ones. Returns the sha256 of the
 * float32 bytes assigned, in layer order: the fingerprint's weight part.
 */
import { createHash } from "node:crypto";
import type * as tfTypes from "@tensorflow/tfjs";
import { CbirError } from "../../errors";
import { reporterOf, type Reporter } from "../../report";
import type { Tf } from "../tf";
import type { H5Weight, H5WeightFile } from "./h5";
import { seededRandom } from "../../random";

/** "block1_conv1/kernel:0" -> "kernel"; "bn/moving_mean" -> "moving_mean". */
function suffix(name: string): string {
  const last = name.split("/").pop() ?? name;
  return last.replace(/:\d+$/, "");
}

function sameShape(a: readonly (number | null)[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The file's weights for one layer, in the layer's own weight order; or the reasons they do not fit. */
function pairLayer(layer: tfTypes.layers.Layer, weights: H5Weight[]): { values?: H5Weight[]; problems: string[] } {
  const vars = layer.weights;
  if (vars.length !== weights.length) return { problems: [`layer '${layer.name}': ${vars.length} weights expected, the file has ${weights.length}`] };
  const bySuffix = new Map(weights.map((w) => [suffix(w.name), w]));
  const useNames = bySuffix.size === weights.length && vars.every((v) => bySuffix.has(suffix(v.originalName ?? v.name)));
  const ordered = useNames ? vars.map((v) => bySuffix.get(suffix(v.originalName ?? v.name))!) : weights;
  const problems: string[] = [];
  vars.forEach((v, i) => {
    if (!sameShape(v.shape, ordered[i].shape))
      problems.push(`layer '${layer.name}' weight '${suffix(v.originalName ?? v.name)}': expected shape [${v.shape.join(", ")}], the file has [${ordered[i].shape.join(", ")}]`);
  });
  return problems.length ? { problems } : { values: ordered, problems };
}

/**
 * Assigns the weights of `h5` to every layer of `model` that has weights. Layers are matched by name;
 * when some names are absent but the file has the same number of weighted layers with fitting shapes,
 * they are matched by position (as Keras does). Anything else is E_WEIGHTS_MISMATCH listing what differs.
 */
export function assignH5Weights(tf: Tf, model: tfTypes.LayersModel, h5: H5WeightFile, reporter?: Reporter): string {
  const targets = model.layers.filter((l) => l.weights.length > 0);
  const fileLayers = h5.layers.filter((l) => l.weights.length > 0);
  const byName = new Map(fileLayers.map((l) => [l.name, l]));
  let plan: { layer: tfTypes.layers.Layer; values: H5Weight[] }[] | undefined;
  const problems: string[] = [];
  for (const layer of targets) {
    const f = byName.get(layer.name);
    if (!f) {
      problems.push(`layer '${layer.name}' is not in the file`);
      continue;
    }
    const r = pairLayer(layer, f.weights);
    problems.push(...r.problems);
    if (r.values) (plan ??= []).push({ layer, values: r.values });
  }
  if (problems.length) {
    plan = undefined;
    const allMissing = problems.every((p) => p.endsWith("is not in the file"));
    if (allMissing || fileLayers.length === targets.length) {
      const positional = targets.map((layer, i) => (fileLayers[i] ? pairLayer(layer, fileLayers[i].weights) : { problems: ["x"] }));
      if (fileLayers.length >= targets.length && positional.every((p) => p.values)) {
        plan = targets.map((layer, i) => ({ layer, values: positional[i].values! }));
        reporterOf(reporter).info(`${h5.file}: layer names differ from the architecture; weights matched by position, as Keras does.`, h5.file);
      }
    }
    if (!plan) {
      const shown = problems.slice(0, 12).join("; ");
      throw new CbirError("E_WEIGHTS_MISMATCH", `the weights do not fit ${model.name} (${problems.length} mismatches): ${shown}${problems.length > 12 ? "; ..." : ""}.`, {
        file: h5.file,
        fix: "use the weight file of this architecture (with or without top as needed), or weights: \"random\".",
      });
    }
  }
  const hash = createHash("sha256");
  for (const { layer, values } of plan ?? []) {
    tf.tidy(() => layer.setWeights(values.map((w) => tf.tensor(w.data, w.shape, "float32"))));
    for (const w of values) hash.update(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
  }
  return hash.digest("hex");
}

export { seededRandom };

/**
 * Seeded random weights in Keras's spirit: He-uniform kernels (so activations neither explode nor vanish
 * through deep ReLU stacks), zero biases and shifts, unit scales and variances.
 */
export function assignRandomWeights(tf: Tf, model: tfTypes.LayersModel, seed: number): string {
  const rand = seededRandom(seed);
  const hash = createHash("sha256");
  for (const layer of model.layers) {
    if (!layer.weights.length) continue;
    const values = layer.weights.map((v) => {
      const shape = v.shape as number[];
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      const kind = suffix(v.originalName ?? v.name);
      if (kind === "kernel" || kind === "depthwise_kernel") {
        const fanIn = kind === "depthwise_kernel" ? shape[0] * shape[1] : shape.slice(0, -1).reduce((a, b) => a * b, 1);
        const limit = Math.sqrt(6 / Math.max(1, fanIn));
        for (let i = 0; i < n; i++) data[i] = (rand() * 2 - 1) * limit;
      } else if (kind === "gamma" || kind === "moving_variance") data.fill(1);
      hash.update(new Uint8Array(data.buffer));
      return { data, shape };
    });
    tf.tidy(() => layer.setWeights(values.map((w) => tf.tensor(w.data, w.shape, "float32"))));
  }
  return hash.digest("hex");
}
