/**
 * Triplet-loss embedding head on frozen backbone features, as the Flowers-based original:
 *   Dense(2048, relu) -> Dense(128) -> L2 normalisation,
 * trained with the batch semi-hard triplet loss (triplet-loss.ts) so that images of one class end up closer
 * than images of other classes by a margin. `embed` maps any matrix of the same pipeline into the new space;
 * its fingerprint gains a reducer part naming the head's weight hash, so k-NN retrieval then runs through the
 * usual exactSearch / evaluate and never mixes embedded and raw vectors.
 */
import type * as tfTypes from "@tensorflow/tfjs";
import { getTf, tfModule } from "../backbone/tf";
import { invalidOption } from "../errors";
import { assertSameFingerprint, extendFingerprint, hashState, type Fingerprint } from "../fingerprint";
import { reporterOf } from "../report";
import type { FeatureMatrix } from "../types";
import { classCodes, type LabelsInput } from "./data";
import { forwardForTraining, l2NormalizationLayer } from "./layers";
import { tripletSemiHardLoss } from "./triplet-loss";
import { resolveTrainOptions, seededRandom, shuffleInPlace, stratifiedSplit, trainLoop, type TrainOptions, type TrainingHistory } from "./train";

export interface TripletArchitecture {
  /** Units of the hidden ReLU layer (default 2048). */
  hiddenUnits: number;
  /** Embedding size (default 128). */
  embeddingDim: number;
  /** Triplet margin (default 1.0, as TF-Addons; embeddings are unit vectors, so distances lie in [0, 2]). */
  margin: number;
}

export interface TripletOptions extends TrainOptions, Partial<TripletArchitecture> {}

export const DEFAULT_TRIPLET_ARCHITECTURE: Readonly<TripletArchitecture> = Object.freeze({ hiddenUnits: 2048, embeddingDim: 128, margin: 1.0 });

export interface TripletHead {
  readonly kind: "triplet";
  readonly model: tfTypes.LayersModel;
  /** Fingerprint of the features the head was trained on; embed() accepts only these. */
  readonly inputFingerprint: Fingerprint;
  readonly inputDim: number;
  readonly architecture: TripletArchitecture;
  /** Short hash of the trained weights (part of the embedded vectors' fingerprint). */
  readonly weightsHash: string;
  /** Present after training (not after loading unless it was saved). */
  readonly history?: TrainingHistory;
  dispose(): void;
}

/** The untrained network; seeded Glorot initialisation. */
export function buildTripletModel(inputDim: number, arch: TripletArchitecture, seed = 42): tfTypes.LayersModel {
  const tf = tfModule();
  const model = tf.sequential({ name: "triplet_head" });
  model.add(tf.layers.dense({ inputShape: [inputDim], units: arch.hiddenUnits, activation: "relu", name: "hidden", kernelInitializer: tf.initializers.glorotUniform({ seed }) }));
  model.add(tf.layers.dense({ units: arch.embeddingDim, name: "embedding", kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }));
  model.add(l2NormalizationLayer());
  return model;
}

export function resolveArchitecture(o: Partial<TripletArchitecture> = {}): TripletArchitecture {
  const a = { ...DEFAULT_TRIPLET_ARCHITECTURE };
  if (o.hiddenUnits !== undefined) a.hiddenUnits = o.hiddenUnits;
  if (o.embeddingDim !== undefined) a.embeddingDim = o.embeddingDim;
  if (o.margin !== undefined) a.margin = o.margin;
  if (!Number.isInteger(a.hiddenUnits) || a.hiddenUnits < 1) throw invalidOption("hiddenUnits", "positive integer", a.hiddenUnits);
  if (!Number.isInteger(a.embeddingDim) || a.embeddingDim < 1) throw invalidOption("embeddingDim", "positive integer", a.embeddingDim);
  if (!(a.margin > 0)) throw invalidOption("margin", "number > 0", a.margin);
  return a;
}

/** Short hash of a model's weights, in layer order. */
export function modelWeightsHash(model: tfTypes.LayersModel): string {
  return hashState(...model.getWeights().map((w) => w.dataSync() as Float32Array));
}

/** Wraps a trained or loaded model as a head. */
export function tripletHead(model: tfTypes.LayersModel, inputFingerprint: Fingerprint, architecture: TripletArchitecture, history?: TrainingHistory): TripletHead {
  const inputDim = model.inputs[0].shape[1] as number;
  return {
    kind: "triplet",
    model,
    inputFingerprint,
    inputDim,
    architecture,
    weightsHash: modelWeightsHash(model),
    history,
    dispose: () => model.dispose(),
  };
}

/**
 * Trains a head on `features` (one labelled row per training image). A stratified `validationFraction` of
 * the rows is held out for the validation loss that drives early stopping; the best epoch's weights are kept.
 * Defaults: 40 epochs, batch 64, Adam 1e-3 with 2 warm-up epochs then cosine decay, patience 6, margin 1.0.
 */
export async function trainTripletHead(features: FeatureMatrix, labels: LabelsInput, options: TripletOptions = {}): Promise<TripletHead> {
  const tf = await getTf();
  const o = resolveTrainOptions(options);
  const arch = resolveArchitecture(options);
  const rep = reporterOf(o.reporter);
  const { codes, classes } = classCodes(features, labels);
  if (classes.length < 2) throw invalidOption("labels", "at least 2 classes", `${classes.length} class`);
  const rand = seededRandom(o.seed);
  const split = stratifiedSplit(codes, o.validationFraction, rand);
  const n = features.ids.length;
  rep.log(`triplet head: ${n} images, ${classes.length} classes, ${features.dim} -> ${arch.hiddenUnits} -> ${arch.embeddingDim}; train ${split.train.length}, validation ${split.val.length}`);

  const model = buildTripletModel(features.dim, arch, o.seed);
  const x = tf.tensor2d(features.data, [n, features.dim]);
  const lossOf = (rows: number[], training: boolean) =>
    tf.tidy(() => {
      const idx = tf.tensor1d(rows, "int32");
      const emb = forwardForTraining(model, tf.gather(x, idx) as tfTypes.Tensor2D, training);
      return tripletSemiHardLoss(rows.map((r) => codes[r]), emb, arch.margin);
    });
  // the validation loss needs positive pairs; tiny sets may have none, then the training rows are monitored
  let monitored = split.val;
  if (!hasPositivePair(split.val, codes)) {
    rep.warn(`the validation split (${split.val.length} images) holds no two images of one class; early stopping watches the training loss instead.`);
    monitored = split.train;
  }
  const valBatches = chunk(monitored, Math.max(o.batchSize, 128));
  try {
    const history = await trainLoop(
      {
        model,
        stage: "train-triplet",
        batches: () => chunk(shuffleInPlace(split.train.slice(), rand), o.batchSize),
        batchLoss: (rows) => lossOf(rows, true),
        validationLoss: () => {
          let sum = 0;
          for (const b of valBatches) {
            const l = lossOf(b, false);
            sum += l.dataSync()[0] * b.length;
            l.dispose();
          }
          return sum / monitored.length;
        },
      },
      o,
    );
    return tripletHead(model, features.fingerprint, arch, history);
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    x.dispose();
  }
}

function hasPositivePair(rows: number[], codes: Int32Array): boolean {
  const seen = new Set<number>();
  for (const r of rows) {
    if (seen.has(codes[r])) return true;
    seen.add(codes[r]);
  }
  return false;
}

/** Consecutive chunks of `size`; a last chunk smaller than half a batch joins the previous one (a batch of 1 has no pair). */
export function chunk<T>(a: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < a.length; i += size) out.push(a.slice(i, i + size));
  if (out.length > 1 && out[out.length - 1].length < size / 2) out[out.length - 2].push(...out.pop()!);
  return out;
}

/** The fingerprint of vectors embedded by `head`. */
export function embeddedFingerprint(head: TripletHead): Fingerprint {
  return extendFingerprint(head.inputFingerprint, { reducer: `triplet${head.architecture.embeddingDim}:${head.weightsHash}` });
}

/**
 * Maps `m` through the head (rows stay in order). Refuses vectors from another pipeline than the training
 * features. Synchronous: the head exists, so tfjs is ready.
 */
export function embed(head: TripletHead, m: FeatureMatrix): FeatureMatrix {
  assertSameFingerprint(head.inputFingerprint, m.fingerprint);
  if (m.dim !== head.inputDim) throw invalidOption("features dimension", `${head.inputDim} (the head's input)`, m.dim);
  const tf = tfModule();
  const n = m.ids.length;
  const outDim = head.architecture.embeddingDim;
  const data = new Float32Array(n * outDim);
  const step = 256;
  for (let i = 0; i < n; i += step) {
    const rows = Math.min(step, n - i);
    const out = tf.tidy(() => head.model.predict(tf.tensor2d(m.data.subarray(i * m.dim, (i + rows) * m.dim), [rows, m.dim])) as tfTypes.Tensor);
    data.set(out.dataSync() as Float32Array, i * outDim);
    out.dispose();
  }
  return { ids: m.ids.slice(), dim: outDim, data, fingerprint: embeddedFingerprint(head) };
}
