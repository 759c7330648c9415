/**
 * The backbone sources, in the order tried: the first whose `matches(name)` is true resolves the name.
 * Adding a source is one file here plus one line in BACKBONE_SOURCES; the names it knows reach the
 * unknown-model error (knownModelNames) and the docs (`accepts`) from here.
 */
import { CbirError, closestNames } from "../../errors";
import type { ResolvedModel } from "../source";
import { kerasBackbones, kerasH5Backbones } from "./keras";
import { nsfwjsBackbones } from "./nsfwjs";
import { onnxFileBackbones } from "./onnx";
import { tfjsFileBackbones, tfjsUrlBackbones } from "./tfjs";
import type { BackboneSource, ResolveOptions } from "./types";
import { zooBackbones } from "./zoo";

export type { BackboneSource, ResolveOptions } from "./types";

export const BACKBONE_SOURCES = {
  nsfwjs: nsfwjsBackbones,
  zoo: zooBackbones,
  keras: kerasBackbones,
  "keras-h5": kerasH5Backbones,
  onnx: onnxFileBackbones,
  "tfjs-url": tfjsUrlBackbones,
  "tfjs-file": tfjsFileBackbones,
} as const satisfies Record<string, BackboneSource>;
export type BackboneSourceName = keyof typeof BACKBONE_SOURCES;
export const BACKBONE_SOURCE_NAMES = Object.keys(BACKBONE_SOURCES) as BackboneSourceName[];

/** Every name `loadBackbone` knows besides paths and URLs. */
export function knownModelNames(): string[] {
  return Object.values(BACKBONE_SOURCES).flatMap((s: BackboneSource) => [...(s.names ?? [])]);
}

/**
 * What `--model` (and `cbir layers <model>`) accepts, one clause per source in try order, with a name of
 * each source that has names: the CLI's help is read from here, so a new source shows up there unedited.
 */
export function backboneNamesHelp(): string {
  return Object.values(BACKBONE_SOURCES)
    .map((s: BackboneSource) => (s.names?.length ? `${s.accepts} (${s.names[0]}, ...)` : s.accepts))
    .join("; ");
}

/** The source that takes `name`, or undefined. */
export function sourceFor(name: string): BackboneSource | undefined {
  return Object.values(BACKBONE_SOURCES).find((s: BackboneSource) => s.matches(name));
}

/** True for names that can only mean a path or URL: checked when loaded, not against the registered names. */
function looksLikePath(name: string): boolean {
  const namespaced = /^(nsfwjs|keras|zoo)\//.test(name);
  return !namespaced && /[\\/]|\.json$|\.h5$|\.onnx$/i.test(name);
}

function unknownModel(name: string): CbirError {
  const pathLike = looksLikePath(name);
  const close = closestNames(name, knownModelNames(), 4);
  return new CbirError("E_UNKNOWN_MODEL", pathLike ? `model file '${name}' does not exist.` : `unknown model '${name}'. Closest names: ${close.join(", ")}.`, {
    file: pathLike ? name : undefined,
    fix: pathLike
      ? "give the path of a model.json (or its folder), of a Keras .h5 file or of an .onnx file."
      : `use one of ${knownModelNames().join(", ")}, a path to a model.json, .h5 or .onnx, or a URL.`,
  });
}

/**
 * The config's check of a model name, before any image is read: a name that is not shaped like a path or URL
 * must be one a source takes. Paths are left to loadBackbone: `cbir eval --index` ranks stored vectors with
 * the index's recorded model and needs no model file.
 */
export function checkModelName(name: string): void {
  if (!looksLikePath(name) && !sourceFor(name)) throw unknownModel(name);
}

export async function resolveModel(name: string, options: ResolveOptions = {}): Promise<ResolvedModel> {
  if (typeof name !== "string" || !name) throw new CbirError("E_UNKNOWN_MODEL", `Expected a model name, path or URL but received ${JSON.stringify(name)}.`);
  const source = sourceFor(name);
  if (!source) throw unknownModel(name);
  return source.resolve(name, options);
}
