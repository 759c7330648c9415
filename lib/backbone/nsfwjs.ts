/**
 * The three networks bundled in the `nsfwjs` npm package (4.3.0), read straight from its files.
 *
 * The bundle ships each model as browserify UMD scripts: `model.min.js` exports the model.json object and
 * each `group1-shard*.min.js` exports one base64 string of weight bytes (uint8-quantized). We evaluate the
 * small model script in an empty VM context and cut the base64 string out of each shard, then build with
 * `tf.io.fromMemory`. nsfwjs's own loader is not used: it took 6.5 s (MobileNetV2) and 60 s / 2.3 GB
 * (InceptionV3) where this takes 0.1-0.3 s.
 *
 * Provenance, which matters for retrieval quality: these weights started from ImageNet but were then
 * trained to classify five NSFW categories (drawings, hentai, neutral, porn, sexy). Even layers marked
 * `trainable: false` in the topology hold weights that differ from the public ImageNet ones, so the upper
 * layers carry that task's semantics. They were trained on inputs scaled to [0, 1], hence the default
 * preprocessing `unit`. The 5-class head is dropped: the cut points end at the base network.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as vm from "node:vm";
import { CbirError } from "../errors";
import type { GraphSource, LayersSource, ModelSource } from "./source";
import { checkTopology } from "./topology";
import { parseManifest } from "./weights";

export const NSFWJS_MODELS = ["nsfwjs/mobilenet_v2", "nsfwjs/inception_v3", "nsfwjs/mobilenet_v2_mid"] as const;
export type NsfwjsModelName = (typeof NSFWJS_MODELS)[number];

/** Folder of the bundled models inside node_modules. */
export function nsfwjsModelsDir(): string {
  let pkg: string;
  try {
    pkg = path.dirname(require.resolve("nsfwjs/package.json"));
  } catch {
    // some versions do not export package.json: find the package folder from its main file
    try {
      const main = require.resolve("nsfwjs");
      pkg = main.slice(0, main.lastIndexOf(`${path.sep}nsfwjs${path.sep}`) + 7);
    } catch (e) {
      throw new CbirError("E_UNKNOWN_MODEL", "the nsfwjs package is not installed.", { fix: "run `npm install nsfwjs@4.3.0`.", cause: e });
    }
  }
  return path.join(pkg, "dist", "models");
}

/** Evaluates a bundled `model.min.js` (a UMD wrapper around one object literal) and returns that object. */
export function readBundledModelJson(file: string): Record<string, unknown> {
  let code: string;
  try {
    code = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new CbirError("E_MODEL_FILE", `cannot read the bundled model (${(e as NodeJS.ErrnoException).code}).`, { file, fix: "reinstall nsfwjs@4.3.0." });
  }
  const mod: { exports: unknown } = { exports: {} };
  try {
    // an empty context: the script sees only `module`/`exports`, no require, no process
    vm.runInNewContext(code, { module: mod, exports: mod.exports }, { filename: file, timeout: 10_000 });
  } catch (e) {
    throw new CbirError("E_MODEL_FILE", `the bundled model script is not readable (${(e as Error).message}).`, { file, fix: "reinstall nsfwjs@4.3.0." });
  }
  // re-create the object in this realm: tfjs tests `instanceof Array`, which arrays from the VM context fail
  const json = JSON.parse(JSON.stringify(mod.exports ?? null)) as Record<string, unknown>;
  if (!json || typeof json !== "object" || !json.modelTopology || !json.weightsManifest)
    throw new CbirError("E_MODEL_FILE", "the bundled model script does not export a model.json object.", { file, fix: "reinstall nsfwjs@4.3.0." });
  return json;
}

/** Cuts the base64 weight string out of a bundled `group1-shardNofM.min.js`. */
export function readBundledShard(file: string): Uint8Array {
  let code: string;
  try {
    code = fs.readFileSync(file, "latin1");
  } catch (e) {
    throw new CbirError("E_MODEL_FILE", `weight file missing (${(e as NodeJS.ErrnoException).code}).`, { file, fix: "reinstall nsfwjs@4.3.0." });
  }
  const marker = 'exports="';
  const start = code.indexOf(marker);
  const end = start < 0 ? -1 : code.indexOf('"', start + marker.length);
  if (start < 0 || end < 0) throw new CbirError("E_MODEL_FILE", "no base64 weight string in the bundled shard (truncated file?).", { file, fix: "reinstall nsfwjs@4.3.0." });
  const buf = Buffer.from(code.slice(start + marker.length, end), "base64");
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Graph-node prefix shared by every layer of `mobilenet_v2_mid` (a TF-Hub MobileNetV2 1.4 feature vector). */
const MID_PREFIX = "StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/MobilenetV2/";

/**
 * Short names for `mobilenet_v2_mid` nodes: the path below `MobilenetV2/` ("Conv_1/Relu6",
 * "expanded_conv_14/add"), and each block name alone ("Conv_1", "expanded_conv_14") for the block's last node.
 */
export function graphAliases(nodeNames: string[]): Map<string, string> {
  const aliases = new Map<string, string>();
  for (const n of nodeNames) {
    if (!n.startsWith(MID_PREFIX)) continue;
    const short = n.slice(MID_PREFIX.length);
    aliases.set(short, n);
    const block = short.split("/")[0];
    if (block !== short) aliases.set(block, n); // later nodes of the block overwrite earlier ones
  }
  return aliases;
}

/** The source of a bundled model: topology and manifest parsed, shards read on demand. */
export function nsfwjsSource(name: NsfwjsModelName): ModelSource {
  const short = name.slice("nsfwjs/".length);
  const dir = path.join(nsfwjsModelsDir(), short);
  const file = path.join(dir, "model.min.js");
  const json = readBundledModelJson(file);
  const manifest = parseManifest(json.weightsManifest, file);
  const readShard = async (p: string) => readBundledShard(path.join(dir, `${p}.min.js`));
  const shardFile = (p: string) => path.join(dir, `${p}.min.js`);
  const base = { id: `nsfwjs:${short}`, name, file, manifest, readShard, shardFile };
  if (short === "mobilenet_v2_mid") {
    const topo = json.modelTopology as { node?: { name: string; op: string }[] };
    const nodes = (topo.node ?? []).filter((n) => n.op !== "Const" && n.op !== "Placeholder").map((n) => n.name);
    const src: GraphSource = {
      ...base,
      kind: "graph",
      artifacts: json,
      aliases: graphAliases(nodes),
      defaults: { layer: "Conv_1", inputSize: [224, 224], preprocessing: "unit", resize: "bilinear" },
    };
    return src;
  }
  const topology = checkTopology(json.modelTopology, file);
  const inception = short === "inception_v3";
  const src: LayersSource = {
    ...base,
    kind: "layers",
    topology,
    lastLayer: inception ? "mixed10" : "out_relu",
    defaults: {
      layer: inception ? "mixed9" : "out_relu",
      inputSize: inception ? [299, 299] : [224, 224],
      preprocessing: "unit",
      resize: "bilinear",
    },
  };
  return src;
}
