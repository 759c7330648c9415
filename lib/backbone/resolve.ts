/**
 * From a name to something buildable. Names, in the order tried:
 * - bundled: `nsfwjs/mobilenet_v2`, `nsfwjs/inception_v3`, `nsfwjs/mobilenet_v2_mid`;
 * - zoo: `mobilenet_v1_0.75_224` (also `zoo/mobilenet_v1_0.75_224`), downloaded once into the cache;
 * - Keras applications: `keras/vgg16`, `keras/vgg19`, `keras/resnet50`, `keras/mobilenet_v2`;
 * - a URL of a model.json; a path to a model.json (or its folder) or to a Keras `.h5` file.
 */
import * as fs from "node:fs";
import { CbirError, closestNames } from "../errors";
import type { Reporter } from "../report";
import type { LayerInfo } from "./types";
import { NSFWJS_MODELS, nsfwjsSource, type NsfwjsModelName } from "./nsfwjs";
import { buildFromSource, type BackboneDefaults, type BuiltModel, type GraphSource, type ModelSource } from "./source";
import { fileSource, isUrl, urlSource } from "./tfjs-file";
import { isZooName, ZOO_MODELS, zooSource } from "./zoo";
import { KERAS_MODELS, isKerasName, kerasModel, kerasModelFromH5, type KerasLoadOptions } from "./keras/index";

export interface ResolveOptions extends KerasLoadOptions {
  reporter?: Reporter;
  /** Never download (zoo models and Keras weights must already be cached). */
  offline?: boolean;
}

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
  | { kind: "graph"; id: string; defaults: BackboneDefaults; source: GraphSource };

/** Every name `loadBackbone` knows besides paths and URLs. */
export function knownModelNames(): string[] {
  return [...NSFWJS_MODELS, ...ZOO_MODELS, ...KERAS_MODELS];
}

function fromSource(src: ModelSource): ResolvedModel {
  if (src.kind === "graph") return { kind: "graph", id: src.id, defaults: src.defaults, source: src };
  return { kind: "layers", id: src.id, defaults: src.defaults, build: (cut, size) => buildFromSource(src, cut, size) };
}

export async function resolveModel(name: string, options: ResolveOptions = {}): Promise<ResolvedModel> {
  if (typeof name !== "string" || !name) throw new CbirError("E_UNKNOWN_MODEL", `Expected a model name, path or URL but received ${JSON.stringify(name)}.`);
  if ((NSFWJS_MODELS as readonly string[]).includes(name)) return fromSource(nsfwjsSource(name as NsfwjsModelName));
  if (isZooName(name)) return fromSource(await zooSource(name, options));
  if (isKerasName(name)) return kerasModel(name, options);
  if (isUrl(name)) {
    if (/\.h5(\?|$)/i.test(name)) return kerasModelFromH5(name, options);
    return fromSource(await urlSource(name));
  }
  if (fs.existsSync(name)) {
    if (/\.(h5|hdf5|keras)$/i.test(name)) return kerasModelFromH5(name, options);
    return fromSource(fileSource(name));
  }
  const namespaced = /^(nsfwjs|keras|zoo)\//.test(name);
  const looksLikePath = !namespaced && /[\\/]|\.json$|\.h5$/i.test(name);
  const close = closestNames(name, knownModelNames(), 4);
  throw new CbirError(
    "E_UNKNOWN_MODEL",
    looksLikePath ? `model file '${name}' does not exist.` : `unknown model '${name}'. Closest names: ${close.join(", ")}.`,
    {
      file: looksLikePath ? name : undefined,
      fix: looksLikePath
        ? "give the path of a model.json (or its folder) or of a Keras .h5 file."
        : `use one of ${knownModelNames().join(", ")}, a path to a model.json or .h5, or a URL.`,
    },
  );
}
