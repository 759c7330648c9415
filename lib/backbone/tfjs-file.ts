/**
 * Any TensorFlow.js model given as a `model.json` (with its weight files beside it) on disk or at a URL.
 * Layers models are pruned at the cut layer before building; graph models are run up to a node.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CbirError } from "../errors";
import type { BackboneDefaults, GraphSource, LayersSource, ModelSource } from "./source";
import { ancestorsOf, checkTopology, declaredInputSize, topologyLayerClasses } from "./topology";
import { parseManifest, weightPathOutside } from "./weights";
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

/** Largest model.json read: graph models hold their topology in it, a few MB in practice. */
export const MAX_MODEL_JSON_BYTES = 256 * 1024 * 1024;

/**
 * A model file's bytes, read only when it is a regular file and holds at most `maxBytes`: a FIFO given as
 * a model would block forever and `/dev/zero` would fill the memory. The file is opened non-blocking (a
 * FIFO opens at once) and checked on the open descriptor, so it cannot be swapped in between; at most
 * `maxBytes + 1` bytes are read, the extra one telling a file that grew. `describe` names the file in errors.
 */
export function readModelFile(file: string, maxBytes: number, describe: string, fix: string): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw new CbirError("E_MODEL_FILE", `${describe} is missing or unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`, { file, fix });
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new CbirError("E_MODEL_FILE", `${describe} is not a regular file (a pipe, socket, device or folder); it is not read.`, { file, fix });
    if (st.size > maxBytes) throw tooLarge(file, describe, maxBytes, fix);
    const buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
    let got = 0;
    for (let n; got < buf.length && (n = fs.readSync(fd, buf, got, buf.length - got, null)) > 0; ) got += n;
    if (got > maxBytes) throw tooLarge(file, describe, maxBytes, fix);
    return buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

function tooLarge(file: string, describe: string, maxBytes: number, fix: string): CbirError {
  return new CbirError("E_MODEL_FILE", `${describe} is larger than expected (more than ${maxBytes} bytes); it is not read.`, { file, fix });
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
  const text = readModelFile(file, MAX_MODEL_JSON_BYTES, "model.json", "give the path of a TensorFlow.js model.json (or of the folder holding it).").toString("utf8");
  const dir = path.dirname(file);
  const readShard = async (shard: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<Uint8Array> => {
    const f = path.resolve(dir, shard);
    // parseManifest refused paths that leave the folder; checked again on the path actually opened
    const rel = path.relative(dir, f);
    if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) throw weightPathOutside(shard, file);
    const b = readModelFile(f, maxBytes, `weight file ${f}`, "keep every weight file listed in model.json next to it, at the size the manifest gives (download or copy the model again).");
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
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

export interface FetchOptions {
  /** Refuse a body longer than this (E_MODEL_FILE), without reading more than one chunk past it. */
  maxBytes?: number;
  /** Only this origin may be asked (redirects to another host are refused, E_MODEL_FILE). */
  origin?: string;
}

/** GET as bytes; network failures and HTTP errors are E_NETWORK naming the URL. */
export async function fetchBytes(url: string, opts: FetchOptions = {}): Promise<Uint8Array> {
  let res: Response;
  let at = url;
  try {
    for (let hops = 0; ; hops++) {
      if (opts.origin !== undefined && new URL(at).origin !== opts.origin) throw otherHost(url, at, opts.origin);
      res = await fetch(at, opts.origin !== undefined ? { redirect: "manual" } : {});
      const next = res.status >= 300 && res.status < 400 ? res.headers.get("location") : null;
      if (opts.origin === undefined || next === null || hops >= 5) break;
      at = new URL(next, at).toString();
    }
  } catch (e) {
    if (e instanceof CbirError) throw e;
    throw new CbirError("E_NETWORK", `cannot download ${url} (${(e as Error).message}).`, {
      file: url,
      fix: "check the network connection, or download the model by hand and give its local path.",
    });
  }
  if (!res.ok) throw new CbirError("E_NETWORK", `downloading ${url} failed: HTTP ${res.status}.`, { file: url, fix: "check the URL." });
  const max = opts.maxBytes ?? Number.MAX_SAFE_INTEGER;
  const fix = "check the URL: the file is larger than its model.json says.";
  if (Number(res.headers.get("content-length") ?? 0) > max) throw tooLarge(url, url, max, fix);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of (res.body ?? []) as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > max) throw tooLarge(url, url, max, fix);
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks, total));
}

function otherHost(url: string, at: string, origin: string): CbirError {
  return new CbirError("E_MODEL_FILE", `${url} leads to ${at}, outside ${origin}; weight files are only fetched from the host of their model.json.`, {
    file: url,
    fix: "keep the weight files beside model.json on the same server.",
  });
}

/** A model.json at a URL, its weight files fetched relative to it, from its own host only (nothing is cached). */
export async function urlSource(url: string, defaults?: Partial<BackboneDefaults>): Promise<ModelSource> {
  const origin = new URL(url).origin;
  const text = Buffer.from(await fetchBytes(url, { maxBytes: MAX_MODEL_JSON_BYTES, origin })).toString("utf8");
  const readShard = (shard: string, maxBytes?: number) => fetchBytes(new URL(shard, url).toString(), { maxBytes, origin });
  return sourceFromModelJson(parseModelJson(text, url), {
    id: `url:${url}`,
    name: url,
    file: url,
    readShard,
    shardFile: (shard) => new URL(shard, url).toString(),
    defaults,
  });
}
