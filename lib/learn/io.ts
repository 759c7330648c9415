/**
 * Saving and loading trained heads as a folder next to an index:
 *   <dir>/model.json    tfjs layers format (topology + weights manifest), loadable by tf.loadLayersModel
 *   <dir>/weights.bin   the weights, one shard
 *   <dir>/head.json     kind, the fingerprint of the features the head was trained on, settings, weight hash, history
 * tfjs's own `file://` handler needs tfjs-node, which this toolkit does not require: the handlers here read and
 * write through node:fs (tf.io.withSaveHandler / tf.io.fromMemory). Loading checks the weight hash (a damaged
 * weights.bin is reported, not used) and, when features are given, refuses features of another pipeline.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as tfTypes from "@tensorflow/tfjs";
import { getTf } from "../backbone/tf";
import { CbirError } from "../errors";
import { assertSameFingerprint, type Fingerprint } from "../fingerprint";
import { writeFileAtomic } from "../fsutil";
import type { FeatureMatrix } from "../types";
import { l2NormalizationClass } from "./layers";
import { similarityHead, type SimilarityArchitecture, type SimilarityHead, type TargetWeights } from "./similarity";
import type { TrainingHistory } from "./train";
import { modelWeightsHash, tripletHead, type TripletArchitecture, type TripletHead } from "./triplet";

export const HEAD_FORMAT = "cbir-learned-head";
export const HEAD_FORMAT_VERSION = 1;
export const HEAD_KINDS = ["triplet", "similarity"] as const;
export type HeadKind = (typeof HEAD_KINDS)[number];
export type LearnedHead = TripletHead | SimilarityHead;

const MODEL_FILE = "model.json";
const WEIGHTS_FILE = "weights.bin";
const META_FILE = "head.json";

/** What head.json holds. */
export interface HeadMeta {
  format: typeof HEAD_FORMAT;
  version: number;
  kind: HeadKind;
  inputFingerprint: Fingerprint;
  inputDim: number;
  weightsHash: string;
  architecture: TripletArchitecture | SimilarityArchitecture;
  target?: TargetWeights;
  history?: TrainingHistory;
  savedAt: string;
}

/** Writes a layers model as model.json + weights.bin in `dir` (created when missing). */
export async function saveModelToDir(model: tfTypes.LayersModel, dir: string): Promise<void> {
  const tf = await getTf();
  fs.mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0)));
      const modelJson = {
        format: artifacts.format ?? "layers-model",
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [`./${WEIGHTS_FILE}`], weights: artifacts.weightSpecs ?? [] }],
      };
      // weights first: a model.json never points at a missing or half-written weights file
      await writeFileAtomic(path.join(dir, WEIGHTS_FILE), weights);
      await writeFileAtomic(path.join(dir, MODEL_FILE), JSON.stringify(modelJson));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON", weightDataBytes: weights.byteLength } };
    }),
  );
}

/** Reads model.json + its weight files from `dir`; errors name the file and the fix. */
export async function loadModelFromDir(dir: string): Promise<tfTypes.LayersModel> {
  const tf = await getTf();
  l2NormalizationClass(); // the triplet head's custom layer must be registered before deserialising
  const modelFile = path.join(dir, MODEL_FILE);
  const json = readJson(modelFile) as { modelTopology?: unknown; weightsManifest?: { paths: string[]; weights: tfTypes.io.WeightsManifestEntry[] }[] };
  if (!json.modelTopology || !Array.isArray(json.weightsManifest))
    throw new CbirError("E_MODEL_FILE", "model.json has no modelTopology or weightsManifest.", { file: modelFile, fix: "save the head again (saveHead)." });
  const specs: tfTypes.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const file = path.resolve(dir, p);
      try {
        buffers.push(fs.readFileSync(file));
      } catch {
        throw new CbirError("E_MODEL_FILE", "a weight file named in model.json is missing.", { file, fix: "copy the whole head folder, or save the head again." });
      }
    }
  }
  const expected = specs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
  const total = buffers.reduce((s, b) => s + b.byteLength, 0);
  if (total !== expected)
    throw new CbirError("E_MODEL_FILE", `the weights hold ${total} bytes where model.json declares ${expected}.`, { file: path.join(dir, WEIGHTS_FILE), fix: "the file is truncated or from another model: save the head again." });
  const weightData = new Uint8Array(total);
  let off = 0;
  for (const b of buffers) weightData.set(b, off), (off += b.byteLength);
  try {
    return await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology as object, weightSpecs: specs, weightData: weightData.buffer }));
  } catch (e) {
    throw new CbirError("E_MODEL_FILE", `model.json could not be rebuilt (${(e as Error).message}).`, { file: modelFile, fix: "save the head again with this version of the toolkit.", cause: e });
  }
}

/** Saves a trained head in `dir` (for example `<index folder>/heads/triplet`). */
export async function saveHead(head: LearnedHead, dir: string): Promise<void> {
  await saveModelToDir(head.model, dir);
  const meta: HeadMeta = {
    format: HEAD_FORMAT,
    version: HEAD_FORMAT_VERSION,
    kind: head.kind,
    inputFingerprint: head.inputFingerprint,
    inputDim: head.inputDim,
    weightsHash: head.weightsHash,
    architecture: head.architecture,
    target: head.kind === "similarity" ? head.target : undefined,
    history: head.history,
    savedAt: new Date().toISOString(),
  };
  await writeFileAtomic(path.join(dir, META_FILE), JSON.stringify(meta, null, 1));
}

export interface LoadHeadOptions {
  /** Features (or their fingerprint) the head will be applied to: refused unless they match the training features'. */
  features?: FeatureMatrix | Fingerprint;
  /** The kind expected; another kind is refused. */
  kind?: HeadKind;
}

/** Loads a head saved by saveHead. */
export async function loadHead(dir: string, options: LoadHeadOptions = {}): Promise<LearnedHead> {
  const metaFile = path.join(dir, META_FILE);
  const meta = readJson(metaFile) as HeadMeta;
  if (meta.format !== HEAD_FORMAT || !(HEAD_KINDS as readonly string[]).includes(meta.kind) || !meta.inputFingerprint?.id)
    throw new CbirError("E_MODEL_FILE", "head.json is not a saved learned head.", { file: metaFile, fix: "point to a folder written by saveHead." });
  if (options.kind && meta.kind !== options.kind)
    throw new CbirError("E_MODEL_FILE", `the folder holds a ${meta.kind} head, not a ${options.kind} head.`, { file: metaFile, fix: `load it as a ${meta.kind} head, or point to the ${options.kind} head's folder.` });
  if (options.features) {
    const fp = "fingerprint" in options.features ? options.features.fingerprint : options.features;
    assertSameFingerprint(meta.inputFingerprint, fp, metaFile);
  }
  const model = await loadModelFromDir(dir);
  if (modelWeightsHash(model) !== meta.weightsHash) {
    model.dispose();
    throw new CbirError("E_INDEX_CORRUPT", "the weights do not match the hash recorded when the head was saved.", { file: path.join(dir, WEIGHTS_FILE), fix: "the folder was modified or damaged: save or train the head again." });
  }
  return meta.kind === "triplet"
    ? tripletHead(model, meta.inputFingerprint, meta.architecture as TripletArchitecture, meta.history)
    : similarityHead(model, meta.inputFingerprint, meta.architecture as SimilarityArchitecture, meta.target!, meta.history);
}

export async function loadTripletHead(dir: string, options: Omit<LoadHeadOptions, "kind"> = {}): Promise<TripletHead> {
  return (await loadHead(dir, { ...options, kind: "triplet" })) as TripletHead;
}

export async function loadSimilarityHead(dir: string, options: Omit<LoadHeadOptions, "kind"> = {}): Promise<SimilarityHead> {
  return (await loadHead(dir, { ...options, kind: "similarity" })) as SimilarityHead;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new CbirError("E_MODEL_FILE", `${path.basename(file)} is missing.`, { file, fix: "point to a folder written by saveHead, or train the head first." });
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new CbirError("E_MODEL_FILE", `${path.basename(file)} is not valid JSON (truncated?).`, { file, fix: "save the head again." });
  }
}
