/**
 * Learned similarity, as the Caltech-101-based original: a regressor MLP reads the element-wise squared
 * difference of two feature vectors, (a - b)^2, and predicts how similar the two images are:
 *   Dense(256, tanh) -> Dropout -> Dense(128, tanh) -> Dropout -> Dense(64, relu) -> Dense(1), MSE loss.
 * The training targets come from a rule over image SSIM, feature distance and class agreement
 * (`similarityTarget`), on pairs drawn with a stated easy/difficult mix (pairs.ts). A database is then ranked
 * by the predicted score, as Ranking[] so evaluate() scores it like any other metric.
 */
import type * as tfTypes from "@tensorflow/tfjs";
import { getTf, tfModule } from "../backbone/tf";
import { invalidOption } from "../errors";
import { assertSameFingerprint, type Fingerprint } from "../fingerprint";
import { topK } from "../rank/topk";
import { ownRow } from "../rank/blocked";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix, Hit, Ranking } from "../types";
import { classCodes, type LabelsInput } from "./data";
import { normalizedDistances, samplePairs, type Pair, type PairSamplerOptions } from "./pairs";
import { modelWeightsHash } from "./triplet";
import { forwardForTraining } from "./layers";
import { resolveTrainOptions, seededRandom, shuffleInPlace, stratifiedSplit, trainLoop, type TrainOptions, type TrainingHistory } from "./train";

export const LEARNED_METRIC = "learned-similarity";

/**
 * The target of a pair, in [0, 1]:
 *   target = wClass * [same class] + wSsim * max(0, SSIM) + wFeature * (1 - d / 2)
 * with SSIM the colour SSIM of the two images (mean over R, G, B at a small common size), d the Euclidean
 * distance of the L2-normalised feature vectors (in [0, 2], so 1 - d/2 is 1 for identical vectors), and the
 * weights summing to 1 (default 0.6 / 0.2 / 0.2). Why this rule: the original divided colour SSIM by a
 * perceptual-hash distance, which blows up for near duplicates (distance 0) and knows nothing of classes,
 * so the regressor only re-learnt pixel similarity. A bounded convex combination keeps targets on one scale;
 * the class term carries what retrieval is judged on, and SSIM and feature closeness order the pairs within
 * a class (near duplicates and look-alikes first). Without images (no SSIM available) wSsim moves to wFeature.
 */
export interface TargetWeights {
  wClass: number;
  wSsim: number;
  wFeature: number;
}

export const DEFAULT_TARGET_WEIGHTS: Readonly<TargetWeights> = Object.freeze({ wClass: 0.6, wSsim: 0.2, wFeature: 0.2 });

export function resolveTargetWeights(w: Partial<TargetWeights> = {}, haveSsim = true): TargetWeights {
  const r = { ...DEFAULT_TARGET_WEIGHTS, ...w };
  for (const k of ["wClass", "wSsim", "wFeature"] as const) if (!(r[k] >= 0)) throw invalidOption(`target.${k}`, "number >= 0", r[k]);
  const sum = r.wClass + r.wSsim + r.wFeature;
  if (Math.abs(sum - 1) > 1e-9) throw invalidOption("target weights", "wClass + wSsim + wFeature = 1", `a sum of ${+sum.toFixed(6)}`);
  return haveSsim ? r : { wClass: r.wClass, wSsim: 0, wFeature: r.wFeature + r.wSsim };
}

/** The target rule (see TargetWeights). `ssim` in [-1, 1] or undefined; `distance` in [0, 2]. */
export function similarityTarget(sameClass: boolean, distance: number, ssim: number | undefined, w: TargetWeights): number {
  const s = ssim === undefined ? 0 : Math.max(0, ssim);
  const f = Math.min(1, Math.max(0, 1 - distance / 2));
  return w.wClass * (sameClass ? 1 : 0) + w.wSsim * s + w.wFeature * f;
}

export interface SimilarityArchitecture {
  /** Hidden layer sizes (default [256, 128, 64]; tanh, tanh, relu). */
  hidden: [number, number, number];
  /** Dropout after the two tanh layers (default 0.2). */
  dropout: number;
}

export const DEFAULT_SIMILARITY_ARCHITECTURE: Readonly<SimilarityArchitecture> = Object.freeze({ hidden: [256, 128, 64] as [number, number, number], dropout: 0.2 });

export interface SimilarityOptions extends TrainOptions {
  architecture?: Partial<SimilarityArchitecture>;
  target?: Partial<TargetWeights>;
  /** Pair sampling for training (validation pairs use the same mix, a quarter of the count). */
  pairs?: PairSamplerOptions;
  /** Colour SSIM of training rows i and j, when the images are at hand (see learn/ssim-pairs.ts). */
  ssim?: (i: number, j: number) => number;
}

export interface SimilarityHead {
  readonly kind: "similarity";
  readonly model: tfTypes.LayersModel;
  readonly inputFingerprint: Fingerprint;
  readonly inputDim: number;
  readonly architecture: SimilarityArchitecture;
  readonly target: TargetWeights;
  readonly weightsHash: string;
  readonly history?: TrainingHistory;
  dispose(): void;
}

export function buildSimilarityModel(inputDim: number, arch: SimilarityArchitecture, seed = 42): tfTypes.LayersModel {
  const tf = tfModule();
  const init = (k: number) => tf.initializers.glorotUniform({ seed: seed + k });
  const model = tf.sequential({ name: "similarity_head" });
  model.add(tf.layers.dense({ inputShape: [inputDim], units: arch.hidden[0], activation: "tanh", kernelInitializer: init(0), name: "dense_256" }));
  model.add(tf.layers.dropout({ rate: arch.dropout, name: "dropout_1" }));
  model.add(tf.layers.dense({ units: arch.hidden[1], activation: "tanh", kernelInitializer: init(1), name: "dense_128" }));
  model.add(tf.layers.dropout({ rate: arch.dropout, name: "dropout_2" }));
  model.add(tf.layers.dense({ units: arch.hidden[2], activation: "relu", kernelInitializer: init(2), name: "dense_64" }));
  model.add(tf.layers.dense({ units: 1, kernelInitializer: init(3), name: "score" }));
  return model;
}

export function resolveSimilarityArchitecture(a: Partial<SimilarityArchitecture> = {}): SimilarityArchitecture {
  const r: SimilarityArchitecture = {
    hidden: [...(a.hidden ?? DEFAULT_SIMILARITY_ARCHITECTURE.hidden)] as [number, number, number],
    dropout: a.dropout ?? DEFAULT_SIMILARITY_ARCHITECTURE.dropout,
  };
  if (r.hidden.length !== 3 || !r.hidden.every((u) => Number.isInteger(u) && u > 0)) throw invalidOption("architecture.hidden", "three positive integers", JSON.stringify(a.hidden));
  if (!(r.dropout >= 0 && r.dropout < 1)) throw invalidOption("architecture.dropout", "number in [0, 1)", r.dropout);
  return r;
}

export function similarityHead(model: tfTypes.LayersModel, inputFingerprint: Fingerprint, architecture: SimilarityArchitecture, target: TargetWeights, history?: TrainingHistory): SimilarityHead {
  return {
    kind: "similarity",
    model,
    inputFingerprint,
    inputDim: model.inputs[0].shape[1] as number,
    architecture,
    target,
    weightsHash: modelWeightsHash(model),
    history,
    dispose: () => model.dispose(),
  };
}

/** (a - b)^2 rows for a list of pairs, as one Float32Array [pairs, dim]. */
export function squaredDifferences(m: FeatureMatrix, pairs: readonly { i: number; j: number }[], out = new Float32Array(pairs.length * m.dim)): Float32Array {
  const d = m.dim;
  pairs.forEach(({ i, j }, r) => {
    for (let k = 0; k < d; k++) {
      const v = m.data[i * d + k] - m.data[j * d + k];
      out[r * d + k] = v * v;
    }
  });
  return out;
}

export interface ScoredPairs {
  pairs: Pair[];
  targets: Float32Array;
}

/**
 * Draws scored pairs among the rows `rows` of `features` (indices in the pairs are rows of `features`);
 * distances are computed once, each draw uses its own seed.
 */
export function pairSource(features: FeatureMatrix, codes: Int32Array, rows: number[], w: TargetWeights, options: PairSamplerOptions, ssim?: (i: number, j: number) => number): (seed: number, count?: number) => ScoredPairs {
  const sub: FeatureMatrix = { ...features, ids: rows.map((r) => features.ids[r]), data: new Float32Array(rows.length * features.dim) };
  rows.forEach((r, t) => sub.data.set(features.data.subarray(r * features.dim, (r + 1) * features.dim), t * features.dim));
  const subCodes = Int32Array.from(rows, (r) => codes[r]);
  const dist = normalizedDistances(sub);
  const n = rows.length;
  return (seed, count) => {
    const local = samplePairs(sub, subCodes, { ...options, seed, count: count ?? options.count }, dist);
    const targets = Float32Array.from(local, (p) => similarityTarget(subCodes[p.i] === subCodes[p.j], dist[p.i * n + p.j], ssim?.(rows[p.i], rows[p.j]), w));
    return { pairs: local.map((p) => ({ ...p, i: rows[p.i], j: rows[p.j] })), targets };
  };
}

/**
 * Trains the regressor. Training images are split (stratified, `validationFraction`) before any pair is drawn,
 * so validation pairs never share an image with training pairs; early stopping watches the validation MSE.
 * Every epoch draws fresh training pairs (same mix, new seed): a few thousand fixed pairs out of the n^2
 * possible ones are learnt by heart within a few epochs. Validation pairs are drawn once.
 * Defaults: 40 epochs, batch 64 pairs, Adam 3e-4 (1e-3 overfits within 3 epochs on 768-d features) with
 * warm-up then cosine decay, patience 6.
 */
export async function trainSimilarityHead(features: FeatureMatrix, labels: LabelsInput, options: SimilarityOptions = {}): Promise<SimilarityHead> {
  const tf = await getTf();
  const o = resolveTrainOptions(options, { learningRate: 3e-4 });
  const arch = resolveSimilarityArchitecture(options.architecture);
  const w = resolveTargetWeights(options.target, options.ssim !== undefined);
  const rep = reporterOf(o.reporter);
  const { codes } = classCodes(features, labels);
  const rand = seededRandom(o.seed);
  const split = stratifiedSplit(codes, o.validationFraction, rand);
  const base = options.pairs ?? {};
  const trainCount = base.count ?? Math.max(400, 8 * split.train.length);
  const drawTrain = pairSource(features, codes, split.train, w, { ...base, count: trainCount }, options.ssim);
  const val = pairSource(features, codes, split.val, w, base, options.ssim)(o.seed + 1, Math.max(100, Math.round(trainCount / 4)));
  rep.log(`learned similarity: ${trainCount} fresh training pairs per epoch over ${split.train.length} images, ${val.pairs.length} validation pairs over ${split.val.length} images`);

  const model = buildSimilarityModel(features.dim, arch, o.seed);
  let xTrain: tfTypes.Tensor2D | undefined;
  let yTrain: tfTypes.Tensor2D | undefined;
  const xVal = tf.tensor2d(squaredDifferences(features, val.pairs), [val.pairs.length, features.dim]);
  const yVal = tf.tensor2d(val.targets, [val.targets.length, 1]);
  try {
    const history = await trainLoop(
      {
        model,
        stage: "train-similarity",
        batches: (epoch) => {
          const train = drawTrain(o.seed + 1000 * epoch);
          tf.dispose([xTrain!, yTrain!].filter(Boolean));
          xTrain = tf.tensor2d(squaredDifferences(features, train.pairs), [train.pairs.length, features.dim]);
          yTrain = tf.tensor2d(train.targets, [train.targets.length, 1]);
          const order = shuffleInPlace(train.pairs.map((_, i) => i), rand);
          const out: number[][] = [];
          for (let i = 0; i < order.length; i += o.batchSize) out.push(order.slice(i, i + o.batchSize));
          return out;
        },
        batchLoss: (rows) =>
          tf.tidy(() => {
            const idx = tf.tensor1d(rows, "int32");
            const pred = forwardForTraining(model, tf.gather(xTrain!, idx) as tfTypes.Tensor2D, true);
            return tf.losses.meanSquaredError(tf.gather(yTrain!, idx), pred) as tfTypes.Scalar;
          }),
        validationLoss: () => {
          const l = tf.tidy(() => tf.losses.meanSquaredError(yVal, model.predict(xVal) as tfTypes.Tensor) as tfTypes.Scalar);
          const v = l.dataSync()[0];
          l.dispose();
          return v;
        },
      },
      o,
    );
    return similarityHead(model, features.fingerprint, arch, w, history);
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    tf.dispose([xVal, yVal, ...[xTrain, yTrain].filter((t): t is tfTypes.Tensor2D => t !== undefined)]);
  }
}

/** Predicted similarity of row pairs (higher = more similar). */
export function predictPairs(head: SimilarityHead, m: FeatureMatrix, pairs: readonly { i: number; j: number }[]): Float32Array {
  assertSameFingerprint(head.inputFingerprint, m.fingerprint);
  if (m.dim !== head.inputDim) throw invalidOption("features dimension", `${head.inputDim} (the head's input)`, m.dim);
  const tf = tfModule();
  const out = new Float32Array(pairs.length);
  const step = Math.max(1, Math.floor(262144 / m.dim));
  const buf = new Float32Array(step * m.dim);
  for (let s = 0; s < pairs.length; s += step) {
    const chunk = pairs.slice(s, s + step);
    squaredDifferences(m, chunk, buf);
    const y = tf.tidy(() => head.model.predict(tf.tensor2d(buf.subarray(0, chunk.length * m.dim), [chunk.length, m.dim])) as tfTypes.Tensor);
    out.set(y.dataSync() as Float32Array, s);
    y.dispose();
  }
  return out;
}

export interface SimilarityRankOptions {
  /** Hits per query (default 10; Infinity for full rankings, as evaluate() wants for mAP). */
  k?: number;
  /** id -> label, copied into the rankings. */
  labels?: Map<string, string>;
  /** Labels of external queries. */
  queryLabels?: Map<string, string>;
  reporter?: Reporter;
}

/**
 * Ranks `db` for every query by predicted score. Without `queries` every database image is a query
 * against the others (leave-one-out, as exactSearch(db, "loo")); with `queries` both matrices must share the head's fingerprint.
 */
export function rankBySimilarity(head: SimilarityHead, db: FeatureMatrix, queries?: FeatureMatrix, options: SimilarityRankOptions = {}): Ranking[] {
  assertSameFingerprint(head.inputFingerprint, db.fingerprint);
  const q = queries ?? db;
  assertSameFingerprint(head.inputFingerprint, q.fingerprint);
  const k = options.k ?? 10;
  if (!(k >= 1)) throw invalidOption("k", "positive integer or Infinity", k);
  const rep = reporterOf(options.reporter);
  const leaveOneOut = queries === undefined;
  const n = db.ids.length;
  // one matrix holding the queries then the database, so pairs index a single matrix
  const both: FeatureMatrix = leaveOneOut ? db : { ...db, ids: [...q.ids, ...db.ids], data: concat(q.data, db.data) };
  const offset = leaveOneOut ? 0 : q.ids.length;
  const out: Ranking[] = [];
  const qLabels = leaveOneOut ? options.labels : options.queryLabels;
  // leave-one-out: the score is symmetric ((a - b)^2 = (b - a)^2), so each pair is predicted once
  const matrix = leaveOneOut ? similarityMatrix(head, db, options.reporter) : undefined;
  for (let qi = 0; qi < q.ids.length; qi++) {
    const scores = matrix ? matrix.subarray(qi * n, (qi + 1) * n) : predictPairs(head, both, Array.from({ length: n }, (_, j) => ({ i: qi, j: offset + j })));
    const idx = topK(scores, k, true, ownRow(leaveOneOut, qi));
    const hits: Hit[] = idx.map((j) => {
      const h: Hit = { id: db.ids[j], score: scores[j] };
      const l = options.labels?.get(db.ids[j]);
      if (l !== undefined) h.label = l;
      return h;
    });
    const r: Ranking = { query: q.ids[qi], hits, metric: LEARNED_METRIC, higherIsBetter: true };
    const ql = qLabels?.get(q.ids[qi]);
    if (ql !== undefined) r.queryLabel = ql;
    out.push(r);
    if (!matrix) rep.progress("rank", qi + 1, q.ids.length, q.ids[qi]);
  }
  return out;
}

/**
 * n x n predicted scores of all pairs of rows of `m`, row-major, computing the pairs i < j only (the score is
 * symmetric); the diagonal is 0 (an image is not scored against itself). Memory n^2 floats.
 */
export function similarityMatrix(head: SimilarityHead, m: FeatureMatrix, reporter?: Reporter): Float32Array {
  const rep = reporterOf(reporter);
  const n = m.ids.length;
  const out = new Float32Array(n * n);
  for (let i = 0; i < n - 1; i++) {
    const pairs = Array.from({ length: n - 1 - i }, (_, t) => ({ i, j: i + 1 + t }));
    const s = predictPairs(head, m, pairs);
    for (let t = 0; t < pairs.length; t++) out[i * n + i + 1 + t] = out[(i + 1 + t) * n + i] = s[t];
    rep.progress("rank", i + 1, n - 1, m.ids[i]);
  }
  return out;
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
