/**
 * The public entry points: `loadBackbone(name, options)`, `listLayers`, `truncateAt`, `loadLayersModel`.
 * A name is resolved by the first matching source (sources/index.ts), built up to the cut layer only, and wrapped in a Backbone
 * for the chosen runtime. Options merge field by field over the model's documented defaults.
 */
import type * as tfTypes from "@tensorflow/tfjs";
import { CbirError, expectOneOf, invalidOption, isCbirError } from "../errors";
import { reporterOf, type Reporter } from "../report";
import { PREPROCESS_MODES, RESIZE_MODES, RUNTIMES, type Backbone, type LayerInfo, type PreprocessMode, type ResizeMode, type RuntimeName } from "./types";
import { getTf } from "./tf";
import { buildFromSource, offeredLayers, type BackboneDefaults } from "./source";
import { checkGraphInputSize, listGraphLayers, loadGraph, resolveGraphNode } from "./graph";
import { layersBackbone, graphBackbone, resolveOutputShape, type BackboneMeta } from "./tfjs-backbone";
import { describeLayers, truncateAt } from "./describe";
import { resolveModel, type ResolveOptions } from "./sources/index";
import type { OnnxFileModel, ResolvedModel } from "./source";
import { createOnnxBackbone } from "./onnx/index";
import { openNativeOnnxBackbone } from "./onnx/native";
import { unknownLayer } from "./topology";

export interface LoadBackboneOptions extends ResolveOptions {
  /** Layer to cut at; default: the model's documented default (e.g. `mixed9` for nsfwjs/inception_v3). */
  layer?: string;
  /** "onnx" (default; falls back to tfjs, with a notice, when the export is not possible) or "tfjs". */
  runtime?: RuntimeName;
  /** Input [height, width] or one side for a square; default: the model's own size. */
  inputSize?: number | [number, number];
  /** Pixel preprocessing; default: the one the weights were trained with. */
  preprocessing?: PreprocessMode;
  /** Resampling used when decoding images to the input size; default "bilinear". */
  resize?: ResizeMode;
  reporter?: Reporter;
}

/** Default runtime of loadBackbone. */
export const DEFAULT_RUNTIME: RuntimeName = "onnx";

function normaliseSize(value: LoadBackboneOptions["inputSize"], fallback: [number, number]): [number, number] {
  if (value === undefined) return fallback;
  const pair = typeof value === "number" ? [value, value] : value;
  if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((v) => Number.isInteger(v) && v >= 8 && v <= 4096))
    throw invalidOption("inputSize", "an integer from 8 to 4096 or [height, width] of such integers", value);
  return [pair[0], pair[1]];
}

/** The settings a backbone will use: options over the model's defaults, validated. */
export function backboneSettings(defaults: BackboneDefaults, options: LoadBackboneOptions): BackboneDefaults & { runtime: RuntimeName } {
  if (options.layer !== undefined && (typeof options.layer !== "string" || !options.layer)) throw invalidOption("layer", "non-empty string", options.layer);
  return {
    layer: options.layer ?? defaults.layer,
    inputSize: normaliseSize(options.inputSize, defaults.inputSize),
    preprocessing: expectOneOf("preprocessing", options.preprocessing ?? defaults.preprocessing, PREPROCESS_MODES),
    resize: expectOneOf("resize", options.resize ?? defaults.resize, RESIZE_MODES),
    runtime: expectOneOf("runtime", options.runtime ?? DEFAULT_RUNTIME, RUNTIMES),
  };
}

/**
 * Loads a network by name, model.json path or URL, or .h5 path, cut at a layer. Default cuts:
 * `nsfwjs/inception_v3` mixed9 (299 px), `nsfwjs/mobilenet_v2` out_relu, `nsfwjs/mobilenet_v2_mid` Conv_1,
 * zoo `mobilenet_v1_*` conv_pw_13_relu, `keras/vgg16|vgg19` block5_pool, `keras/resnet50` conv5_block3_out,
 * `keras/mobilenet_v2` out_relu; other model.json files: the layer feeding their classification head.
 * The nsfwjs weights were trained on another task (NSFW classes) with inputs in [0, 1]: see README.md.
 * With `runtime: "onnx"` the truncated model is handed to `./onnx` and then disposed here; when that is
 * not possible the tfjs backbone is returned with a notice.
 */
export async function loadBackbone(name: string, options: LoadBackboneOptions = {}): Promise<Backbone> {
  const rep = reporterOf(options.reporter);
  const tf = await getTf();
  const resolved = await resolveModel(name, options);
  const s = backboneSettings(resolved.defaults, options);

  if (resolved.kind === "graph") {
    const node = resolveGraphNode(resolved.source, s.layer);
    checkGraphInputSize(resolved.source, s.inputSize);
    const { model, weightsHash } = await loadGraph(resolved.source);
    const outputShape = tf.tidy(() => (model.execute(tf.zeros([1, s.inputSize[0], s.inputSize[1], 3]), node) as tfTypes.Tensor).shape.slice(1));
    const meta: BackboneMeta = { id: resolved.id, layer: s.layer, inputSize: s.inputSize, preprocessing: s.preprocessing, resize: s.resize, outputShape, weightsHash };
    if (s.runtime === "onnx") rep.warn(`${name} is a graph model, which the ONNX exporter does not convert; running it with tfjs.`);
    rep.log(`backbone ${resolved.id} cut at ${s.layer}: output ${outputShape.join("x")}`);
    return graphBackbone(tf, model, node, meta);
  }

  if (resolved.kind === "onnx") return loadNativeOnnx(name, resolved, s, options);

  const { model, weightsHash } = await resolved.build(s.layer, s.inputSize);
  let meta: BackboneMeta;
  try {
    const outputShape = resolveOutputShape(tf, model, s.inputSize);
    meta = { id: resolved.id, layer: s.layer, inputSize: s.inputSize, preprocessing: s.preprocessing, resize: s.resize, outputShape, weightsHash };
  } catch (e) {
    model.dispose();
    throw e;
  }
  rep.log(`backbone ${resolved.id} cut at ${s.layer}: output ${meta.outputShape.join("x")}`);
  if (s.runtime === "onnx") {
    const onnx = await tryOnnx(model, meta, options.reporter);
    if (onnx) return onnx;
  }
  return layersBackbone(tf, model, meta);
}

/** A native .onnx file: ONNX Runtime only, cut at one of its outputs, at its declared input size if it has one. */
async function loadNativeOnnx(name: string, model: OnnxFileModel, s: ReturnType<typeof backboneSettings>, options: LoadBackboneOptions): Promise<Backbone> {
  if (options.runtime !== undefined && options.runtime !== "onnx")
    throw new CbirError("E_BAD_OPTION", `${name} is a native ONNX model, which runs with the onnx runtime only (asked: ${options.runtime}).`, {
      file: model.file,
      fix: "use --runtime onnx, or give the model as a tfjs model.json or Keras .h5.",
    });
  const outputs = model.outputs.map((o) => o.name);
  if (!outputs.includes(s.layer)) throw unknownLayer(s.layer, outputs, name);
  const declared = model.input.size;
  if (declared && (declared[0] !== s.inputSize[0] || declared[1] !== s.inputSize[1]))
    throw new CbirError("E_BAD_OPTION", `${name} takes ${declared[0]}x${declared[1]} inputs only, not ${s.inputSize[0]}x${s.inputSize[1]}.`, {
      file: model.file,
      fix: `use inputSize [${declared[0]}, ${declared[1]}] (or leave it out).`,
    });
  const backbone = await openNativeOnnxBackbone(model, { id: model.id, layer: s.layer, inputSize: s.inputSize, preprocessing: s.preprocessing, resize: s.resize, weightsHash: model.weightsHash });
  reporterOf(options.reporter).log(`backbone ${model.id} cut at ${s.layer}: output ${backbone.outputShape.join("x")}`);
  return backbone;
}

/**
 * The ONNX runtime when it can export this model; undefined (with a notice naming why) otherwise. A missing
 * ONNX Runtime falls back to tfjs too, as every run did before it was told apart from an unsupported layer
 * (the CLI and the config always name a runtime, onnx by default): the notice now says what is missing and
 * how to install it.
 */
async function tryOnnx(model: tfTypes.LayersModel, meta: BackboneMeta, reporter: Reporter | undefined): Promise<Backbone | undefined> {
  const rep = reporterOf(reporter);
  try {
    const backbone = await createOnnxBackbone(model, meta, reporter);
    model.dispose(); // the ONNX backbone holds its own copy of the weights
    return backbone;
  } catch (e) {
    if (isCbirError(e) && e.code === "E_UNSUPPORTED_LAYER") {
      rep.warn(`cannot run ${meta.id} with ONNX (${e.message.replace(/ Fix: .*$/s, "")}); running it with tfjs.`);
      return undefined;
    }
    if (isCbirError(e) && e.code === "E_NO_RUNTIME") {
      rep.warn(`${e.message.replace(/ Fix: .*$/s, "")} Running ${meta.id} with tfjs (fix: ${e.fix ?? "npm ci"}).`);
      return undefined;
    }
    model.dispose();
    throw e;
  }
}

/**
 * The whole network a name stands for, as a tfjs LayersModel holding every layer it can be cut at (the
 * nsfwjs classification heads are dropped). The caller disposes it.
 */
export async function loadLayersModel(name: string, options: ResolveOptions & { inputSize?: number | [number, number] } = {}): Promise<tfTypes.LayersModel> {
  const resolved = await resolveModel(name, options);
  if (resolved.kind === "graph")
    throw new CbirError("E_UNSUPPORTED_LAYER", `${name} is a tfjs graph model, not a layers model.`, { fix: "use loadBackbone, which runs graph models directly." });
  if (resolved.kind === "onnx")
    throw new CbirError("E_UNSUPPORTED_LAYER", `${name} is a native ONNX model, not a layers model.`, { file: resolved.file, fix: "use loadBackbone, which runs .onnx files directly." });
  const size = options.inputSize === undefined ? undefined : normaliseSize(options.inputSize, resolved.defaults.inputSize);
  return (await resolved.build(undefined, size)).model;
}

/** The layers a model (or a model name, path or URL) can be cut at; -1 marks a size left open by the model. */
export async function listLayers(nameOrModel: string | tfTypes.LayersModel, options: ResolveOptions = {}): Promise<LayerInfo[]> {
  if (typeof nameOrModel !== "string") return describeLayers(nameOrModel);
  const resolved: ResolvedModel = await resolveModel(nameOrModel, options);
  if (resolved.kind === "graph") {
    const { model } = await loadGraph(resolved.source);
    try {
      return await listGraphLayers(resolved.source, model, resolved.defaults.inputSize);
    } finally {
      model.dispose();
    }
  }
  if (resolved.kind === "onnx") return resolved.outputs;
  if (resolved.list) return resolved.list();
  const { model } = await resolved.build(undefined, undefined);
  try {
    return describeLayers(model);
  } finally {
    model.dispose();
  }
}

export { offeredLayers, buildFromSource, describeLayers, truncateAt };
