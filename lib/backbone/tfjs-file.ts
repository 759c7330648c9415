/**
 * Any TensorFlow.js model given as a `model.json` (with its weight files beside it) on disk or at a URL.
 * Layers models are pruned at the cut layer before building; graph models are run up to a node.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CbirError } from "../errors";
import type { BackboneDefaults, GraphSource, LayersSource, ModelSource } from "./source";
import { ancestorsOf, checkTopology, declaredInputSize, topologyLayerClasses } from "./topology";
import { parseManifest } from "./weights";
import { graphInputSize } from "./graph";

/** Layer classes that start a classification head: the default cut is the layer feeding the first of them. */
const HEAD_CLASSES = ["Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "Dense"];

/** Defaults for a model we know nothing about: cut before the head, inputs scaled to [-1, 1] ("tf"). */
export function guessDefaults(topology: Record<string, unknown>, inputSize: [number, number] | undefined): BackboneDefaults {
  const layers = topologyLayerClasses(topology);
  let layer = layers[layers.length - 1].name;
  const head = layers.find((l) => HEAD_CLASSES.includes(l.className));
  if (head) {
    // the head layer's own inputs are its ancestors other than itself; take the latest defined one
    const feeding = ancestorsOf(topology, head.name);
    feeding.delete(head.name);
    const before = layers.filter((l) => feeding.has(l.name));
    if (before.length) layer = before[before.length - 1].name;
  }
  return { layer, inputSize: inputSize ?? [224, 224], preprocessing: "tf", resize: "bilinear" };
}

export function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** Parses model.json text; a truncated or non-JSON file is E_MODEL_FILE naming it. */
export function parseModelJson(text: string, file: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CbirError("E_MODEL_FILE", `model.json is not valid JSON, probably truncated (${(e as Error).message}).`, {
      file,
      fix: "download or convert the model again.",
    });
  }
  if (!json || typeof json !== "object" || !(json as Record<string, unknown>).modelTopology)
    throw new CbirError("E_MODEL_FILE", "model.json has no modelTopology.", { file, fix: "give a TensorFlow.js model.json written by the converter." });
  return json as Record<string, unknown>;
}

/** A source for a model.json already parsed; `readShard` reads one manifest path. */
export function sourceFromModelJson(
  json: Record<string, unknown>,
  opts: {
    id: string;
    name: string;
    file: string;
    readShard: (p: string) => Promise<Uint8Array>;
    shardFile?: (p: string) => string;
    defaults?: Partial<BackboneDefaults>;
  },
): ModelSource {
  const manifest = parseManifest(json.weightsManifest, opts.file);
  if (json.format === "graph-model" || (json.modelTopology as Record<string, unknown>)?.node) {
    const nodes = (((json.modelTopology as { node?: { name: string; op: string }[] }).node ?? []) as { name: string; op: string }[]).filter(
      (n) => n.op !== "Const" && n.op !== "Placeholder",
    );
    if (!nodes.length) throw new CbirError("E_MODEL_FILE", "graph model without nodes.", { file: opts.file, fix: "convert the model again." });
    const src: GraphSource = {
      kind: "graph",
      id: opts.id,
      name: opts.name,
      file: opts.file,
      manifest,
      readShard: opts.readShard,
      shardFile: opts.shardFile,
      artifacts: json,
      aliases: new Map(nodes.map((n) => [n.name, n.name])),
      defaults: { layer: nodes[nodes.length - 1].name, inputSize: graphInputSize(json) ?? [224, 224], preprocessing: "tf", resize: "bilinear", ...opts.defaults },
    };
    return src;
  }
  const topology = checkTopology(json.modelTopology, opts.file);
  const src: LayersSource = {
    kind: "layers",
    id: opts.id,
    name: opts.name,
    file: opts.file,
    manifest,
    readShard: opts.readShard,
    shardFile: opts.shardFile,
    topology,
    defaults: { ...guessDefaults(topology, declaredInputSize(topology)), ...opts.defaults },
  };
  return src;
}

/** model.json path: the file itself, or `model.json` inside a folder. */
export function modelJsonPath(p: string): string {
  const abs = path.resolve(p);
  try {
    if (fs.statSync(abs).isDirectory()) return path.join(abs, "model.json");
  } catch {
    /* reported by the read below */
  }
  return abs;
}

/** A model.json on disk, its weight files read from the same folder. */
export function fileSource(p: string, defaults?: Partial<BackboneDefaults>, id?: string): ModelSource {
  const file = modelJsonPath(p);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new CbirError("E_MODEL_FILE", `cannot read model.json (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`, {
      file,
      fix: "give the path of a TensorFlow.js model.json (or of the folder holding it).",
    });
  }
  const dir = path.dirname(file);
  const readShard = async (shard: string): Promise<Uint8Array> => {
    const f = path.resolve(dir, shard);
    try {
      const b = await fs.promises.readFile(f);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      throw new CbirError("E_MODEL_FILE", `weight file ${f} is missing or unreadable (${(e as NodeJS.ErrnoException).code}).`, {
        file: f,
        fix: "keep every weight file listed in model.json next to it (download or copy the model again).",
      });
    }
  };
  return sourceFromModelJson(parseModelJson(text, file), {
    id: id ?? `file:${file}`,
    name: p,
    file,
    readShard,
    shardFile: (shard) => path.resolve(dir, shard),
    defaults,
  });
}

/** GET as bytes; network failures and HTTP errors are E_NETWORK naming the URL. */
export async function fetchBytes(url: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new CbirError("E_NETWORK", `cannot download ${url} (${(e as Error).message}).`, {
      file: url,
      fix: "check the network connection, or download the model by hand and give its local path.",
    });
  }
  if (!res.ok) throw new CbirError("E_NETWORK", `downloading ${url} failed: HTTP ${res.status}.`, { file: url, fix: "check the URL." });
  return new Uint8Array(await res.arrayBuffer());
}

/** A model.json at a URL, its weight files fetched relative to it (nothing is cached). */
export async function urlSource(url: string, defaults?: Partial<BackboneDefaults>): Promise<ModelSource> {
  const text = Buffer.from(await fetchBytes(url)).toString("utf8");
  const readShard = (shard: string) => fetchBytes(new URL(shard, url).toString());
  return sourceFromModelJson(parseModelJson(text, url), {
    id: `url:${url}`,
    name: url,
    file: url,
    readShard,
    shardFile: (shard) => new URL(shard, url).toString(),
    defaults,
  });
}
