/**
 * A folder's vectors in one call (the demo, notebooks 07-08): Pipeline.open -> fit on these images, with the
 * pooled CNN vectors kept apart (the originals' `X_features`). The final vectors' fingerprint covers every
 * step and every fitted state.
 */
import type { Backbone } from "../backbone/types";
import { resolveConfig, type ConfigInput } from "../config";
import { backboneFingerprint, type ExtractResult } from "../extract/features";
import { selectColumns } from "../reduce/index";
import type { Reporter } from "../report";
import type { FeatureMatrix, FittedPipeline, ImageItem, SkippedFile } from "../types";
import { Pipeline } from "./pipeline";

export interface PipelineFeatures {
  /** Final vectors, one row per usable image. */
  features: FeatureMatrix;
  /** Pooled CNN vectors before post-processing and fusion (`cnn.dim` is the originals' `X_features.shape[1]`). */
  cnn: FeatureMatrix;
  /** Items in row order (skipped images removed). */
  items: ImageItem[];
  skipped: SkippedFile[];
  /** The pipeline fitted on these images, to transform queries the same way. */
  fitted: FittedPipeline;
  backbone: { id: string; layer: string; inputSize: [number, number]; outputShape: number[]; runtime: string; preprocessing: string; resize: string };
  seconds: ExtractResult["seconds"] & { load: number; post: number };
}

/** Vectors of `items` under `config` (open -> fit); pass an already loaded backbone to reuse it across calls. */
export async function computeFeatures(items: ImageItem[], config: ConfigInput = {}, options: { reporter?: Reporter; backbone?: Backbone } = {}): Promise<PipelineFeatures> {
  const c = resolveConfig(config);
  const t0 = performance.now();
  const pipe = await Pipeline.open(c, { reporter: options.reporter, progress: true, backbone: options.backbone });
  const load = (performance.now() - t0) / 1000;
  try {
    const db = await pipe.fit(items);
    const b = pipe.backbone;
    const f = pipe.config.features;
    return {
      features: db.features,
      // raw vectors hold [CNN | histogram] when fusion is on
      cnn: selectColumns(db.raw, 0, pipe.cnnDim, backboneFingerprint(b, f.pooling, f.gemP)),
      items: db.items,
      skipped: db.skipped,
      fitted: db.fitted,
      backbone: { id: b.id, layer: b.layer, inputSize: b.inputSize, outputShape: b.outputShape, runtime: b.runtime, preprocessing: b.preprocessing, resize: b.resize },
      seconds: { ...db.seconds, load },
    };
  } finally {
    pipe.dispose();
  }
}
