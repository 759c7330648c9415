/**
 * The feature pipeline every entry point shares (demo, notebooks, benchmarks; `cbir index/eval` store the
 * same raw vectors through lib/store/pipeline.ts): load backbone -> pooled CNN vectors (+ colour
 * histograms) -> post-processing fitted on these images (centre, L2, histogram fusion).
 * Returns the final vectors with a fingerprint that covers every step and every fitted state.
 */
import type { Backbone } from "../backbone/types";
import { resolveConfig, type PipelineConfig } from "../config";
import { backboneFingerprint, type ExtractResult } from "../extract/features";
import { CbirError } from "../errors";
import { pooledDim } from "../extract/pooling/index";
import { postprocess, selectColumns, type FittedPost } from "../reduce/index";
import type { Reporter } from "../report";
import { openPipeline } from "../store/pipeline";
import type { FeatureMatrix, ImageItem, SkippedFile } from "../types";

export interface PipelineFeatures {
  /** Final vectors, one row per usable image. */
  features: FeatureMatrix;
  /** Pooled CNN vectors before post-processing and fusion (`cnn.dim` is the originals' `X_features.shape[1]`). */
  cnn: FeatureMatrix;
  /** Items in row order (skipped images removed). */
  items: ImageItem[];
  skipped: SkippedFile[];
  /** Fitted post-processing, to transform queries the same way (applyPostprocess). */
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
  const pipe = await openPipeline(c, { reporter: options.reporter, progress: true, backbone: options.backbone });
  const load = (performance.now() - t0) / 1000;
  try {
    const raw = await pipe.extract(items);
    if (raw.features.ids.length === 0) {
      throw new CbirError("E_NO_IMAGES", `none of the ${items.length} images could be decoded (first: ${raw.skipped[0]?.reason}).`, {
        file: raw.skipped[0]?.path,
        fix: "check that the folder holds valid JPEG/PNG/WebP images.",
      });
    }
    const t1 = performance.now();
    const { features, state } = postprocess(raw.features, pipe.post, options.reporter);
    const kept = new Set(raw.features.ids);
    const b = pipe.backbone;
    return {
      features,
      // raw vectors hold [CNN | histogram] when fusion is on
      cnn: selectColumns(raw.features, 0, pooledDim(b.outputShape, c.pooling), backboneFingerprint(b, c.pooling, c.gemP)),
      items: items.filter((it) => kept.has(it.name)),
      skipped: raw.skipped,
      post: state,
      backbone: { id: b.id, layer: b.layer, inputSize: b.inputSize, outputShape: b.outputShape, runtime: b.runtime, preprocessing: b.preprocessing, resize: b.resize },
      seconds: { ...raw.seconds, load, post: (performance.now() - t1) / 1000 },
    };
  } finally {
    pipe.dispose();
  }
}

