/**
 * The feature pipeline every entry point shares (demo, `cbir index/eval`, notebooks, benchmarks):
 * load backbone -> extract pooled CNN vectors (+ colour histograms) -> centre/L2 -> optional fusion -> L2.
 * Returns the final vectors with a fingerprint that covers every step and every fitted state.
 */
import { loadBackbone } from "../backbone/index";
import type { Backbone } from "../backbone/types";
import { extractFeatures, type ExtractResult } from "../extract/features";
import { colorHistogram } from "../extract/histogram";
import { makeFingerprint } from "../fingerprint";
import { fuseWithHistogram, l2normalize, postprocess, type FittedPost, type PostStep } from "../reduce/index";
import type { Reporter } from "../report";
import type { FeatureMatrix, ImageItem, SkippedFile } from "../types";
import { resolveConfig, type PipelineConfig } from "../config";

export const HISTOGRAM_BINS = 8;

export interface PipelineFeatures {
  /** Final vectors, one row per usable image. */
  features: FeatureMatrix;
  /** Pooled CNN vectors before post-processing. */
  cnn: FeatureMatrix;
  /** Items in row order (skipped images removed). */
  items: ImageItem[];
  skipped: SkippedFile[];
  /** Fitted centring state, to transform queries the same way. */
  post: FittedPost;
  backbone: { id: string; layer: string; inputSize: [number, number]; outputShape: number[]; runtime: string; preprocessing: string; resize: string };
  seconds: ExtractResult["seconds"] & { load: number; post: number };
}

/** Vectors of `items` under `config`; pass an already loaded backbone to reuse it across calls. */
export async function computeFeatures(
  items: ImageItem[],
  config: Partial<PipelineConfig> = {},
  options: { reporter?: Reporter; backbone?: Backbone } = {},
): Promise<PipelineFeatures> {
  const c = resolveConfig(config);
  const t0 = performance.now();
  const backbone =
    options.backbone ?? (await loadBackbone(c.model, { layer: c.layer || undefined, runtime: c.runtime, reporter: options.reporter }));
  const tLoad = (performance.now() - t0) / 1000;
  try {
    const useHistogram = c.histogramWeight > 0;
    const ex = await extractFeatures(backbone, items, {
      pooling: c.pooling,
      batchSize: c.batchSize || undefined,
      histogram: useHistogram ? (rgb) => colorHistogram(rgb, HISTOGRAM_BINS) : undefined,
      reporter: options.reporter,
    });
    const t1 = performance.now();
    const steps: PostStep[] = c.center ? ["center", "l2"] : ["l2"];
    const { features: cnnPost, state } = postprocess(ex.features, steps, options.reporter);
    let features = cnnPost;
    if (useHistogram && ex.histograms) {
      const hist: FeatureMatrix = {
        ids: ex.features.ids,
        dim: HISTOGRAM_BINS ** 3,
        data: concatRows(ex.histograms),
        fingerprint: makeFingerprint({ backbone: `hist:rgb${HISTOGRAM_BINS}-sqrt`, inputSize: backbone.inputSize, resize: backbone.resize }),
      };
      features = l2normalize(fuseWithHistogram(cnnPost, hist, { weight: c.histogramWeight }));
    }
    return {
      features,
      cnn: ex.features,
      items: ex.items,
      skipped: ex.skipped,
      post: state,
      backbone: {
        id: backbone.id,
        layer: backbone.layer,
        inputSize: backbone.inputSize,
        outputShape: backbone.outputShape,
        runtime: backbone.runtime,
        preprocessing: backbone.preprocessing,
        resize: backbone.resize,
      },
      seconds: { ...ex.seconds, load: tLoad, post: (performance.now() - t1) / 1000 },
    };
  } finally {
    if (!options.backbone) backbone.dispose();
  }
}

function concatRows(rows: Float32Array[]): Float32Array {
  const dim = rows[0]?.length ?? 0;
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(r, i * dim));
  return out;
}
