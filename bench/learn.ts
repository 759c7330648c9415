/**
 * Bench section "learn": does learning on frozen features beat the frozen features themselves?
 * Data: ../shared/data/malaysian_food7 (7 classes x 215). Per class, the first half by sorted file name trains,
 * the second half tests; test images never reach training (not even the centring, fitted on the training half).
 * Features: zoo MobileNet v1 0.75 (`conv_pw_13_relu`, GAP), its cache pre-seeded from ../shared/models, else the
 * bundled default backbone. Extracted once and cached in a temp file, so the seeds do not re-extract.
 * Scores: leave-one-out mAP and P@10 within the test half, cosine on the frozen (centred, L2) features versus
 * (1) cosine on the triplet head's embeddings, (2) the learned similarity's predicted score; mean of 3 seeds.
 * Run alone: node --import tsx bench/learn.ts
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { computeFeatures } from "../lib/pipeline/features";
import { DEFAULT_CONFIG } from "../lib/config";
import { scanFolder } from "../lib/prepare/scan";
import { exactSearch } from "../lib/rank";
import { evaluate } from "../lib/evaluate";
import { sha256 } from "../lib/fingerprint";
import { writeFileAtomicSync } from "../lib/fsutil";
import { getTf } from "../lib/backbone/tf";
import type { FeatureMatrix, ImageItem, Ranking } from "../lib/types";
import {
  embed,
  labelMap,
  loadSsimImages,
  pairSsimFromImages,
  rankBySimilarity,
  centerOnTraining,
  splitByClass,
  trainSimilarityHead,
  trainTripletHead,
  type TrainingHistory,
} from "../lib/learn";

const SHARED = path.resolve(__dirname, "../../shared");
const DATASET = path.join(SHARED, "data", "malaysian_food7");
const ZOO_NAME = "mobilenet_v1_0.75_224";
const SEEDS = [1, 2, 3];

/** The zoo model with its cache pre-seeded from ../shared/models (copied to a temp dir), else the bundled default. */
function chooseBackbone(): { model: string; cache?: string } {
  const shared = path.join(SHARED, "models", ZOO_NAME);
  if (!fs.existsSync(path.join(shared, "model.json"))) return { model: DEFAULT_CONFIG.model };
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-learn-zoo-"));
  fs.cpSync(shared, path.join(cache, ZOO_NAME), { recursive: true });
  return { model: ZOO_NAME, cache };
}

/** Pooled CNN vectors of `items`, from a temp-file cache keyed by the model and the files' names, sizes and dates. */
async function cachedFeatures(items: ImageItem[], model: string): Promise<{ features: FeatureMatrix; items: ImageItem[]; cached: boolean; seconds: number }> {
  const key = sha256(JSON.stringify([model, items.map((i) => { const st = fs.statSync(i.path); return [i.name, st.size, st.mtimeMs]; })])).slice(0, 16);
  const file = path.join(os.tmpdir(), `cbir-learn-bench-${key}.json`);
  if (fs.existsSync(file)) {
    const j = JSON.parse(fs.readFileSync(file, "utf8"));
    const data = new Float32Array(Buffer.from(j.data, "base64").buffer.slice(0));
    const byName = new Map(items.map((i) => [i.name, i]));
    return { features: { ids: j.ids, dim: j.dim, data, fingerprint: j.fingerprint }, items: j.ids.map((id: string) => byName.get(id)!), cached: true, seconds: 0 };
  }
  const t0 = performance.now();
  const out = await computeFeatures(items, { model, layer: "", pooling: "gap", histogramWeight: 0, center: false, runtime: "onnx" });
  const f = out.cnn;
  const bytes = Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength);
  writeFileAtomicSync(file, JSON.stringify({ ids: f.ids, dim: f.dim, fingerprint: f.fingerprint, data: bytes.toString("base64") }));
  return { features: f, items: out.items, cached: false, seconds: (performance.now() - t0) / 1000 };
}

const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
const r4 = (x: number) => Math.round(x * 10000) / 10000;

function scores(rankings: Ranking[]) {
  const ev = evaluate(rankings, { k: [10] });
  return { mAP: ev.mAP, p10: ev.precisionAtK[10] };
}

function summary(before: { mAP: number; p10: number }, runs: { mAP: number; p10: number; history?: TrainingHistory; seconds: number }[]) {
  const after = mean(runs.map((r) => r.mAP));
  return {
    map_before: r4(before.mAP),
    map_after: r4(after),
    map_gain: r4(after - before.mAP),
    map_after_per_seed: runs.map((r) => r4(r.mAP)),
    p_at_10_before: r4(before.p10),
    p_at_10_after: r4(mean(runs.map((r) => r.p10))),
    epochs_run: runs.map((r) => r.history?.epochs.length ?? 0),
    best_epoch: runs.map((r) => r.history?.bestEpoch ?? 0),
    train_s_mean: r4(mean(runs.map((r) => r.seconds))),
  };
}

export interface BenchData {
  model: string;
  items: ImageItem[];
  train: FeatureMatrix;
  test: FeatureMatrix;
  trainItems: ImageItem[];
  trainLabels: string[];
  labels: Map<string, string>;
  cached: boolean;
  extractSeconds: number;
}

/** Features of both halves (extracted once, cached). Sets CBIR_CACHE_DIR while it runs; call `restore` after. */
export async function prepareBenchData(): Promise<BenchData & { restore(): void }> {
  const { model, cache } = chooseBackbone();
  const oldCache = process.env.CBIR_CACHE_DIR;
  if (cache) process.env.CBIR_CACHE_DIR = cache;
  const restore = () => {
    if (!cache) return;
    if (oldCache === undefined) delete process.env.CBIR_CACHE_DIR;
    else process.env.CBIR_CACHE_DIR = oldCache;
    fs.rmSync(cache, { recursive: true, force: true });
  };
  try {
    const scanned = scanFolder(DATASET).items;
    const { features: raw, items, cached, seconds } = await cachedFeatures(scanned, model);
    const split = splitByClass(items);
    const labels = labelMap(items);
    // centring fitted on the training half only, applied to both halves (same state, same fingerprint)
    const { train, test } = centerOnTraining(raw, split.train.map((i) => i.name), split.test.map((i) => i.name));
    return { model, items, train, test, trainItems: split.train, trainLabels: train.ids.map((id) => labels.get(id)!), labels, cached, extractSeconds: seconds, restore };
  } catch (e) {
    restore();
    throw e;
  }
}

export async function runLearnBench(): Promise<Record<string, unknown>> {
  if (!fs.existsSync(DATASET)) return { skipped: `${DATASET} is absent (needs ../shared)` };
  const d = await prepareBenchData();
  try {
    const tf = await getTf();
    const { train, test, labels, trainLabels } = d;
    const before = scores(await exactSearch(test, "loo", { kernel: "js", metric: "cosine", k: Infinity, labels }));

    const triplet = [];
    for (const seed of SEEDS) {
      const t0 = performance.now();
      const head = await trainTripletHead(train, trainLabels, { seed });
      const seconds = (performance.now() - t0) / 1000;
      triplet.push({ ...scores(await exactSearch(embed(head, test), "loo", { kernel: "js", metric: "cosine", k: Infinity, labels })), history: head.history, seconds });
      head.dispose();
    }

    const tSsim = performance.now();
    const ssim = pairSsimFromImages(await loadSsimImages(d.trainItems));
    const ssimLoad = (performance.now() - tSsim) / 1000;
    const similarity = [];
    for (const seed of SEEDS) {
      const t0 = performance.now();
      const head = await trainSimilarityHead(train, trainLabels, { seed, ssim });
      const seconds = (performance.now() - t0) / 1000;
      const t1 = performance.now();
      similarity.push({ ...scores(rankBySimilarity(head, test, undefined, { k: Infinity, labels })), history: head.history, seconds, rankSeconds: (performance.now() - t1) / 1000 });
      head.dispose();
    }
    return {
      dataset: "malaysian_food7",
      backbone: d.model,
      layer: train.fingerprint.parts.layer,
      dim: train.dim,
      n_train: train.ids.length,
      n_test: test.ids.length,
      features_cached: d.cached,
      extract_s: r4(d.extractSeconds),
      seeds: SEEDS,
      triplet: summary(before, triplet),
      similarity: { ...summary(before, similarity), rank_s_mean: r4(mean(similarity.map((s) => s.rankSeconds))), ssim_images_s: r4(ssimLoad) },
      tensors_left: tf.memory().numTensors,
    };
  } finally {
    d.restore();
  }
}

if (require.main === module) {
  runLearnBench().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
