/**
 * Keras applications (`keras/vgg16`, `keras/vgg19`, `keras/resnet50`, `keras/mobilenet_v2`): the
 * architecture is built in TypeScript and the weights come from the .h5 files Keras publishes.
 *
 * Weights, by `options.weights`:
 * - "imagenet" (default): the file Keras caches under `~/.keras/models` (or `$KERAS_HOME/models`) is reused
 *   when present, otherwise downloaded there from Keras's URL (lib/backbone/download.ts: temp file, checked
 *   against Keras's published MD5 `file_hash` where there is one, then renamed), unless `offline`;
 * - "random": seeded random weights (`seed`, default 0), for shape tests and benchmarks without any file;
 * - a path or URL of a Keras .h5 file.
 * The file without the top is used unless the cut layer is in the top (fc1, fc2, predictions...).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type * as tfTypes from "@tensorflow/tfjs";
import { CbirError, invalidOption } from "../../errors";
import { reporterOf, type Reporter } from "../../report";
import type { BackboneDefaults, ResolvedModel } from "../source";
import { getTf } from "../tf";
import { BASE_URL_ENV, downloadFile, downloadsDisabled, modelUrl, offlineError, OFFLINE_ENV } from "../download";
import { describeLayers } from "../describe";
import type { LayerInfo } from "../types";
import { unknownLayer } from "../topology";
import { KERAS_ARCHITECTURES, TOP_LAYERS, buildArchitecture, type KerasArchitecture } from "./architectures";
import { assignH5Weights, assignRandomWeights } from "./assign";
import { readKerasH5, type H5WeightFile } from "./h5";

export { KERAS_ARCHITECTURES, TOP_LAYERS, buildArchitecture, type KerasArchitecture, type ArchitectureOptions } from "./architectures";
export { readKerasH5, loadH5wasm, type H5Weight, type H5WeightFile } from "./h5";
export { assignH5Weights, assignRandomWeights, seededRandom } from "./assign";

export const KERAS_MODELS = ["keras/vgg16", "keras/vgg19", "keras/resnet50", "keras/mobilenet_v2"] as const;
export type KerasModelName = (typeof KERAS_MODELS)[number];

export interface KerasLoadOptions {
  /** "imagenet" (default), "random", or the path or URL of a Keras .h5 weight file. */
  weights?: string;
  /** Seed of `weights: "random"` (default 0). */
  seed?: number;
  /** Multiplies every channel count (default 1). Only with `weights: "random"` or a matching .h5. */
  widthScale?: number;
  /** Build the ImageNet classifier too (default: only when the cut layer is in it). */
  includeTop?: boolean;
  reporter?: Reporter;
  offline?: boolean;
}

interface KerasInfo {
  baseUrl: string;
  top: string;
  notop: string;
  /** MD5 `file_hash` of [top, notop] as Keras's application sources publish it; none for mobilenet_v2. */
  md5?: [string, string];
  defaults: BackboneDefaults;
}

const KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/";

/** Weight files and defaults. Default cut: the output of `include_top=False`. */
export const KERAS_INFO: Readonly<Record<KerasArchitecture, KerasInfo>> = Object.freeze({
  vgg16: {
    baseUrl: `${KERAS_URL}vgg16/`,
    top: "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
    notop: "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    md5: ["64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"],
    defaults: { layer: "block5_pool", inputSize: [224, 224], preprocessing: "caffe", resize: "bilinear" },
  },
  vgg19: {
    baseUrl: `${KERAS_URL}vgg19/`,
    top: "vgg19_weights_tf_dim_ordering_tf_kernels.h5",
    notop: "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    md5: ["cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"],
    defaults: { layer: "block5_pool", inputSize: [224, 224], preprocessing: "caffe", resize: "bilinear" },
  },
  resnet50: {
    baseUrl: `${KERAS_URL}resnet/`,
    top: "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
    notop: "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    md5: ["2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"],
    defaults: { layer: "conv5_block3_out", inputSize: [224, 224], preprocessing: "caffe", resize: "bilinear" },
  },
  mobilenet_v2: {
    baseUrl: `${KERAS_URL}mobilenet_v2/`,
    top: "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
    notop: "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
    defaults: { layer: "out_relu", inputSize: [224, 224], preprocessing: "tf", resize: "bilinear" },
  },
});

export function isKerasName(name: string): name is KerasModelName {
  return (KERAS_MODELS as readonly string[]).includes(name);
}

/** Keras's cache of downloaded weights: `$KERAS_HOME/models`, else `~/.keras/models`. */
export function kerasCacheDir(): string {
  return process.env.KERAS_HOME ? path.join(process.env.KERAS_HOME, "models") : path.join(os.homedir(), ".keras", "models");
}

/** The first bytes of every HDF5 file. */
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Downloads `url` to `dest` (lib/backbone/download.ts: temporary file, checked, renamed), checked against
 * `md5` when Keras publishes one; a file that is not HDF5 is refused and deleted too.
 */
async function downloadTo(url: string, dest: string, reporter: Reporter | undefined, md5?: string): Promise<void> {
  reporterOf(reporter).info(`downloading ${url} into ${dest}`);
  await downloadFile(url, dest, { reporter, expect: md5 ? { md5, source: "Keras's published file_hash" } : undefined });
  const head = Buffer.alloc(HDF5_SIGNATURE.length);
  const fd = fs.openSync(dest, "r");
  try {
    fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (!head.equals(HDF5_SIGNATURE)) {
    fs.rmSync(dest, { force: true });
    throw new CbirError("E_DOWNLOAD_CHECK", `${url} gave a file that is not HDF5 (starts with ${head.toString("hex")}); the file was deleted.`, {
      file: dest,
      fix: `check the URL (and ${BASE_URL_ENV} if set), or download it by hand and put it at ${dest}.`,
    });
  }
}

/** The local .h5 to read for `arch`: from the Keras cache, downloaded when needed and allowed. */
async function imagenetWeightsFile(arch: KerasArchitecture, top: boolean, options: KerasLoadOptions): Promise<string> {
  const info = KERAS_INFO[arch];
  const dir = kerasCacheDir();
  const candidates = top ? [info.top] : [info.notop, info.top];
  for (const c of candidates) if (fs.existsSync(path.join(dir, c))) return path.join(dir, c);
  const want = top ? info.top : info.notop;
  const dest = path.join(dir, want);
  const url = modelUrl(info.baseUrl + want);
  if (downloadsDisabled(options.offline))
    throw new CbirError("E_NETWORK", `the ImageNet weights of keras/${arch} are not in ${dir} and downloads are disabled (--offline or ${OFFLINE_ENV}).`, {
      file: dest,
      fix: `download ${url} by hand and put it at ${dest}, give weights: "<path to .h5>", or use weights: "random".`,
    });
  await downloadTo(url, dest, options.reporter, info.md5?.[top ? 0 : 1]);
  return dest;
}

/** A local .h5 for a user-given path or URL (URLs are cached under the Keras cache by file name). */
async function userWeightsFile(spec: string, options: KerasLoadOptions): Promise<string> {
  if (!/^https?:\/\//i.test(spec)) {
    if (!fs.existsSync(spec)) throw new CbirError("E_MODEL_FILE", `weight file does not exist.`, { file: spec, fix: "give the path of a Keras .h5 file." });
    return path.resolve(spec);
  }
  const dest = path.join(kerasCacheDir(), path.basename(new URL(spec).pathname));
  if (!fs.existsSync(dest)) {
    if (downloadsDisabled(options.offline)) throw offlineError(spec, spec, dest);
    await downloadTo(spec, dest, options.reporter);
  }
  return dest;
}

function checkOptions(o: KerasLoadOptions): void {
  if (o.widthScale !== undefined && !(typeof o.widthScale === "number" && o.widthScale > 0 && o.widthScale <= 4))
    throw invalidOption("widthScale", "number in (0, 4]", o.widthScale);
  if (o.seed !== undefined && !Number.isInteger(o.seed)) throw invalidOption("seed", "integer", o.seed);
  if (o.weights !== undefined && (typeof o.weights !== "string" || !o.weights)) throw invalidOption("weights", '"imagenet", "random" or the path of a .h5', o.weights);
}

/** Every layer name of an architecture (with its top), for checking a cut before anything is read. */
function layerNames(tf: Awaited<ReturnType<typeof getTf>>, arch: KerasArchitecture, widthScale: number): string[] {
  // names do not depend on the size; a tiny width keeps this cheap
  const m = buildArchitecture(tf, arch, { includeTop: true, widthScale: Math.min(widthScale, 1 / 64), inputSize: [224, 224] });
  const names = m.layers.map((l) => l.name);
  m.dispose();
  return names;
}

type WeightChoice = { random: number } | { file: string } | { h5: H5WeightFile };

function resolvedArchitecture(
  arch: KerasArchitecture,
  id: string,
  chooseWeights: (top: boolean) => Promise<WeightChoice>,
  options: KerasLoadOptions,
): ResolvedModel {
  checkOptions(options);
  const info = KERAS_INFO[arch];
  const widthScale = options.widthScale ?? 1;
  return {
    kind: "layers",
    id,
    defaults: info.defaults,
    async build(cut, inputSize) {
      const tf = await getTf();
      const all = layerNames(tf, arch, widthScale);
      if (cut !== undefined && !all.includes(cut)) throw unknownLayer(cut, all, id);
      const top = options.includeTop ?? (cut !== undefined && TOP_LAYERS[arch].includes(cut));
      const size = inputSize ?? info.defaults.inputSize;
      const fixed = top && arch.startsWith("vgg");
      if (fixed && (size[0] !== 224 || size[1] !== 224))
        throw new CbirError("E_BAD_OPTION", `keras/${arch} with its top (cut at ${cut ?? "predictions"}) takes 224x224 inputs only, not ${size[0]}x${size[1]}.`, {
          fix: "use inputSize 224, or cut at block5_pool or earlier.",
        });
      const full = buildArchitecture(tf, arch, { includeTop: top, widthScale, inputSize: fixed ? [224, 224] : size });
      let weightsHash: string;
      try {
        const w = await chooseWeights(top);
        if ("random" in w) weightsHash = assignRandomWeights(tf, full, w.random);
        else weightsHash = assignH5Weights(tf, full, "h5" in w ? w.h5 : await readKerasH5(w.file), options.reporter);
      } catch (e) {
        full.dispose();
        throw e;
      }
      if (cut === undefined || cut === full.layers[full.layers.length - 1].name) return { model: full, weightsHash };
      // keep only what the cut needs; the layers after it are released
      const model = tf.model({ inputs: full.inputs, outputs: full.getLayer(cut).output as tfTypes.SymbolicTensor, name: `${arch}_to_${cut}` });
      const kept = new Set(model.layers);
      for (const l of full.layers) if (!kept.has(l)) l.dispose();
      return { model, weightsHash };
    },
    async list() {
      const tf = await getTf();
      const base = buildArchitecture(tf, arch, { includeTop: false, widthScale, inputSize: info.defaults.inputSize });
      try {
        return [...describeLayers(base), ...topLayerInfo(arch, base, widthScale)];
      } finally {
        base.dispose();
      }
    },
  };
}

/**
 * The top's layers described without building them (VGG's fc1 alone holds 100 M weights): they are
 * fixed by Keras (224 x 224 input for VGG, 1000 classes).
 */
function topLayerInfo(arch: KerasArchitecture, base: tfTypes.LayersModel, widthScale: number): LayerInfo[] {
  const out = base.outputs[0].shape as number[];
  const channels = out[3];
  const dense = (name: string, inputs: number, units: number): LayerInfo => ({ name, type: "Dense", outputShape: [units], params: inputs * units + units });
  if (arch === "vgg16" || arch === "vgg19") {
    const flat = 7 * 7 * channels;
    const fc = Math.max(1, Math.round(4096 * widthScale));
    return [{ name: "flatten", type: "Flatten", outputShape: [flat], params: 0 }, dense("fc1", flat, fc), dense("fc2", fc, fc), dense("predictions", fc, 1000)];
  }
  const pool = arch === "resnet50" ? "avg_pool" : "global_average_pooling2d";
  return [{ name: pool, type: "GlobalAveragePooling2D", outputShape: [channels], params: 0 }, dense("predictions", channels, 1000)];
}

/** `keras/<arch>` with the weights chosen by `options.weights`. */
export async function kerasModel(name: KerasModelName, options: KerasLoadOptions = {}): Promise<ResolvedModel> {
  const arch = name.slice("keras/".length) as KerasArchitecture;
  const spec = options.weights ?? "imagenet";
  let id = spec === "random" ? `keras:${arch}:random${options.seed ?? 0}` : spec === "imagenet" ? `keras:${arch}` : `keras:${arch}:${path.basename(spec)}`;
  if (options.widthScale !== undefined && options.widthScale !== 1) id += `@${options.widthScale}`;
  return resolvedArchitecture(
    arch,
    id,
    async (top) => {
      if (spec === "random") return { random: options.seed ?? 0 };
      if (spec === "imagenet") return { file: await imagenetWeightsFile(arch, top, options) };
      return { file: await userWeightsFile(spec, options) };
    },
    options,
  );
}

/** Which architecture a weight file belongs to: by file name, else by its layer names. */
export function detectArchitecture(file: string, layerNamesInFile: string[]): KerasArchitecture | undefined {
  const base = path.basename(file).toLowerCase();
  for (const a of ["vgg16", "vgg19", "resnet50", "mobilenet_v2"] as const) if (base.includes(a)) return a;
  const has = (n: string) => layerNamesInFile.includes(n);
  if (has("block5_conv4")) return "vgg19";
  if (has("block5_conv3")) return "vgg16";
  if (has("conv5_block3_out") || has("conv5_block3_3_conv")) return "resnet50";
  if (has("block_16_project") || has("out_relu")) return "mobilenet_v2";
  return undefined;
}

/** A .h5 given as a model: its architecture is recognised, then built and loaded as for `keras/<arch>`. */
export async function kerasModelFromH5(spec: string, options: KerasLoadOptions = {}): Promise<ResolvedModel> {
  const file = await userWeightsFile(spec, options);
  const h5 = await readKerasH5(file);
  const arch = detectArchitecture(file, h5.layers.map((l) => l.name));
  if (!arch)
    throw new CbirError("E_WEIGHTS_MISMATCH", `cannot tell which architecture the weights are for (supported: ${KERAS_ARCHITECTURES.join(", ")}).`, {
      file,
      fix: "name the file after its architecture (e.g. vgg19_weights.h5), or load it with loadBackbone(\"keras/<arch>\", { weights: file }).",
    });
  return resolvedArchitecture(arch, `keras:${arch}:${path.basename(file)}`, async () => ({ h5 }), options);
}
