/**
 * The training loop both heads share: Adam, a learning rate that warms up linearly then decays, mini-batches
 * in a seeded order, a validation loss after every epoch, and early stopping that restores the weights of
 * the best validation epoch. The heads supply only the batch loss and the validation loss.
 */
import type * as tfTypes from "@tensorflow/tfjs";
import { expectOneOf, invalidOption } from "../errors";
import { reporterOf, type Reporter } from "../report";
import { getTf } from "../backbone/tf";
import { seededRandom } from "../random";

export const LR_DECAYS = ["cosine", "exponential", "constant"] as const;
export type LrDecay = (typeof LR_DECAYS)[number];

export interface TrainOptions {
  /** Maximum epochs (default 40). */
  epochs?: number;
  /** Examples (triplet) or pairs (similarity) per step (default 64). */
  batchSize?: number;
  /** Peak Adam learning rate, reached at the end of the warm-up (default 1e-3). */
  learningRate?: number;
  /** Epochs of linear warm-up from learningRate / warmupSteps to learningRate (default 2; 0 = none). */
  warmupEpochs?: number;
  /** After the warm-up: "cosine" to 1% of the peak at the last epoch (default), "exponential" or "constant". */
  decay?: LrDecay;
  /** exponential decay: factor per epoch (default 0.9). */
  decayRate?: number;
  /** Epochs without a validation improvement larger than minDelta before stopping (default 6). */
  patience?: number;
  /** Default 1e-4. */
  minDelta?: number;
  /** Fraction of the training examples held out for the validation loss, stratified by class (default 0.2). */
  validationFraction?: number;
  /** Seeds weight initialisation, the validation split and the batch order (default 42). */
  seed?: number;
  reporter?: Reporter;
}

export interface EpochRecord {
  epoch: number;
  loss: number;
  valLoss: number;
  learningRate: number;
}

/** Per-epoch losses, for training curves. */
export interface TrainingHistory {
  epochs: EpochRecord[];
  /** Epoch whose weights were kept (lowest validation loss), 1-based. */
  bestEpoch: number;
  bestValLoss: number;
  stoppedEarly: boolean;
  seconds: number;
}

export type ResolvedTrainOptions = Required<Omit<TrainOptions, "reporter">> & { reporter?: Reporter };

export const DEFAULT_TRAIN_OPTIONS: Readonly<Required<Omit<TrainOptions, "reporter">>> = Object.freeze({
  epochs: 40,
  batchSize: 64,
  learningRate: 1e-3,
  warmupEpochs: 2,
  decay: "cosine",
  decayRate: 0.9,
  patience: 6,
  minDelta: 1e-4,
  validationFraction: 0.2,
  seed: 42,
} as const);

export function resolveTrainOptions(o: TrainOptions = {}, defaults: Partial<TrainOptions> = {}): ResolvedTrainOptions {
  const r = { ...DEFAULT_TRAIN_OPTIONS, ...defaults } as ResolvedTrainOptions;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (r as unknown as Record<string, unknown>)[k] = v;
  const posInt = (name: keyof TrainOptions) => {
    const v = r[name] as number;
    if (!Number.isInteger(v) || v < 1) throw invalidOption(name, "positive integer", v);
  };
  posInt("epochs");
  posInt("batchSize");
  posInt("patience");
  if (!(r.learningRate > 0)) throw invalidOption("learningRate", "number > 0", r.learningRate);
  if (!Number.isInteger(r.warmupEpochs) || r.warmupEpochs < 0) throw invalidOption("warmupEpochs", "integer >= 0", r.warmupEpochs);
  expectOneOf("decay", r.decay, LR_DECAYS);
  if (!(r.decayRate > 0 && r.decayRate <= 1)) throw invalidOption("decayRate", "number in (0, 1]", r.decayRate);
  if (!(r.minDelta >= 0)) throw invalidOption("minDelta", "number >= 0", r.minDelta);
  if (!(r.validationFraction > 0 && r.validationFraction < 1)) throw invalidOption("validationFraction", "number in (0, 1)", r.validationFraction);
  if (!Number.isInteger(r.seed)) throw invalidOption("seed", "integer", r.seed);
  return r;
}

/** Learning rate at a step (0-based): linear warm-up, then the decay, both measured in steps. */
export function learningRateAt(step: number, stepsPerEpoch: number, o: Pick<ResolvedTrainOptions, "learningRate" | "warmupEpochs" | "decay" | "decayRate" | "epochs">): number {
  const warm = o.warmupEpochs * stepsPerEpoch;
  if (step < warm) return (o.learningRate * (step + 1)) / warm;
  const total = Math.max(1, o.epochs * stepsPerEpoch - warm);
  const t = Math.min(1, (step - warm) / total);
  if (o.decay === "constant") return o.learningRate;
  if (o.decay === "exponential") return o.learningRate * Math.pow(o.decayRate, (step - warm) / stepsPerEpoch);
  const floor = 0.01 * o.learningRate;
  return floor + 0.5 * (o.learningRate - floor) * (1 + Math.cos(Math.PI * t));
}

export { seededRandom };

export function shuffleInPlace<T>(a: T[], rand: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

/** Stratified split of row indices: about `fraction` of each class goes to the second part (at least one when the class has 2+). */
export function stratifiedSplit(labels: ArrayLike<number>, fraction: number, rand: () => number): { train: number[]; val: number[] } {
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!byClass.has(l)) byClass.set(l, []);
    byClass.get(l)!.push(i);
  }
  const train: number[] = [];
  const val: number[] = [];
  for (const key of [...byClass.keys()].sort((a, b) => a - b)) {
    const idx = shuffleInPlace(byClass.get(key)!.slice(), rand);
    const nVal = idx.length < 2 ? 0 : Math.max(1, Math.round(idx.length * fraction));
    val.push(...idx.slice(0, nVal));
    train.push(...idx.slice(nVal));
  }
  return { train: train.sort((a, b) => a - b), val: val.sort((a, b) => a - b) };
}

export interface LoopSpec {
  model: tfTypes.LayersModel;
  /** The mini-batches of one epoch (indices into the caller's training set). */
  batches(epoch: number): number[][];
  /** Loss of one batch in training mode (dropout on), as a scalar that depends on the model's weights. */
  batchLoss(batch: number[]): tfTypes.Scalar;
  /** Validation loss with the current weights (training mode off). */
  validationLoss(): number;
  /** Stage name for progress events. */
  stage: string;
}

/** Runs the loop; on return the model holds the weights of the best validation epoch. */
export async function trainLoop(spec: LoopSpec, o: ResolvedTrainOptions): Promise<TrainingHistory> {
  const tf = await getTf();
  const rep = reporterOf(o.reporter);
  const t0 = performance.now();
  const optimizer = tf.train.adam(o.learningRate);
  const setRate = (lr: number) => ((optimizer as unknown as { learningRate: number }).learningRate = lr);
  const history: TrainingHistory = { epochs: [], bestEpoch: 0, bestValLoss: Infinity, stoppedEarly: false, seconds: 0 };
  let best: tfTypes.Tensor[] | undefined;
  // only this model's weights: minimize() without a list would also touch every other live variable (a backbone)
  const variables = spec.model.trainableWeights.map((w) => w.read() as tfTypes.Variable);
  let step = 0;
  let sinceBest = 0;
  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      const batches = spec.batches(epoch);
      let sum = 0;
      let lr = o.learningRate;
      for (const batch of batches) {
        lr = learningRateAt(step++, batches.length, o);
        setRate(lr);
        const cost = optimizer.minimize(() => spec.batchLoss(batch), true, variables);
        sum += cost ? (await cost.data())[0] : 0;
        cost?.dispose();
      }
      const loss = batches.length ? sum / batches.length : NaN;
      const valLoss = spec.validationLoss();
      history.epochs.push({ epoch, loss, valLoss, learningRate: lr });
      rep.log(`epoch ${epoch}/${o.epochs}  loss ${loss.toFixed(4)}  val_loss ${valLoss.toFixed(4)}  lr ${lr.toExponential(2)}`);
      rep.progress(spec.stage, epoch, o.epochs);
      if (valLoss < history.bestValLoss - o.minDelta || !best) {
        history.bestValLoss = Math.min(valLoss, history.bestValLoss);
        history.bestEpoch = epoch;
        sinceBest = 0;
        best?.forEach((t) => t.dispose());
        best = spec.model.getWeights().map((w) => w.clone());
      } else if (++sinceBest >= o.patience) {
        history.stoppedEarly = true;
        rep.log(`early stopping at epoch ${epoch}: restoring the weights of epoch ${history.bestEpoch} (val_loss ${history.bestValLoss.toFixed(4)})`);
        break;
      }
    }
    if (best) spec.model.setWeights(best);
  } finally {
    best?.forEach((t) => t.dispose());
    optimizer.dispose();
  }
  history.seconds = (performance.now() - t0) / 1000;
  return history;
}
