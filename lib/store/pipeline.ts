/**
 * The raw vectors an index stores, and the post-processing that turns them into the vectors that are
 * ranked, for a PipelineConfig: pooled CNN vectors, with the square-rooted colour histogram appended when
 * histogram fusion is on. Centring and fusion are fitted on the whole database (a `fuse` or `center` step),
 * so an updated index refits them and queries reuse the database's state: the same vectors as
 * lib/pipeline/features.ts computeFeatures, in a form that can be stored and extended.
 */
import type { Backbone } from "../backbone/types";
// static imports: tslab (the notebooks' kernel) cannot require() a TypeScript file at run time
import { loadBackbone } from "../backbone/load";
import { backboneFingerprint, extractFeatures, type ExtractResult } from "../extract/features";
import { resolveConfig, type PipelineConfig } from "../config";
import { isCbirError } from "../errors";
import { colorHistogram } from "../extract/histogram";
import { extendFingerprint, type Fingerprint } from "../fingerprint";
import { FUSE_WHITEN_SHRINKAGE, type PostStep } from "../reduce/postprocess";
import { pooledDim } from "../extract/pooling/index";
import type { Reporter } from "../report";
import type { FeatureMatrix, ImageItem, SkippedFile } from "../types";

export const HISTOGRAM_BINS = 8;

export interface RawPipeline {
  config: PipelineConfig;
  backbone: Backbone;
  /** Fingerprint of the raw vectors. */
  fingerprint: Fingerprint;
  /** Post-processing to fit on the database. */
  post: PostStep[];
  /** Raw vectors of the images that decode, in item order; `seconds` splits the time spent. */
  extract(items: ImageItem[]): Promise<{ features: FeatureMatrix; skipped: SkippedFile[]; seconds: ExtractResult["seconds"] }>;
  /** The settings as recorded in an index manifest. */
  record: Record<string, string | number | boolean>;
  dispose(): void;
}

/** The post-processing a config asks for (see lib/reduce/postprocess.ts for each step). */
export function postSteps(c: PipelineConfig, cnnDim: number): PostStep[] {
  if (c.histogramWeight > 0) return [{ fuse: c.whiten > 0 ? { split: cnnDim, weight: c.histogramWeight, center: c.center, whiten: c.whiten } : { split: cnnDim, weight: c.histogramWeight, center: c.center } }];
  if (c.whiten > 0) return ["l2", { pca: c.whiten, whiten: true, shrinkage: FUSE_WHITEN_SHRINKAGE }, "l2"];
  return c.center ? ["center", "l2"] : ["l2"];
}

/** Reporter without progress: the caller draws one bar over all batches. */
function quiet(reporter?: Reporter): Reporter | undefined {
  return reporter ? { log: reporter.log?.bind(reporter), notice: reporter.notice?.bind(reporter) } : undefined;
}

/**
 * Loads the backbone named by the config (or borrows `opts.backbone`, which `dispose` then leaves alone)
 * and returns the raw-vector extractor plus the post-processing to fit.
 */
export async function openPipeline(
  config: Partial<PipelineConfig>,
  opts: { reporter?: Reporter; progress?: boolean; backbone?: Backbone } = {},
): Promise<RawPipeline> {
  const c = resolveConfig(config);
  const backbone = opts.backbone ?? (await loadBackbone(c.model, { layer: c.layer || undefined, runtime: c.runtime, reporter: opts.reporter }));
  const fuse = c.histogramWeight > 0;
  const cnnFp = backboneFingerprint(backbone, c.pooling, c.gemP);
  const fingerprint = fuse ? extendFingerprint(cnnFp, { extra: { histogram: `rgb${HISTOGRAM_BINS}-sqrt` } }) : cnnFp;
  const record = { model: c.model, layer: backbone.layer, pooling: c.pooling, gemP: c.gemP, runtime: c.runtime, histogramWeight: c.histogramWeight, whiten: c.whiten, center: c.center };
  const extractReporter = opts.progress ? opts.reporter : quiet(opts.reporter);
  const cnnDim = pooledDim(backbone.outputShape, c.pooling);
  return {
    config: { ...c, layer: backbone.layer },
    backbone,
    fingerprint,
    post: postSteps(c, cnnDim),
    record,
    async extract(items) {
      let ex;
      try {
        ex = await extractFeatures(backbone, items, {
          pooling: c.pooling,
          gemP: c.gemP,
          batchSize: c.batchSize || undefined,
          histogram: fuse ? (rgb) => colorHistogram(rgb, HISTOGRAM_BINS) : undefined,
          reporter: extractReporter,
        });
      } catch (e) {
        // a batch in which no image decodes: every one of them is skipped, the run goes on
        if (!isCbirError(e) || e.code !== "E_NO_IMAGES") throw e;
        const reason = e.message;
        const seconds = { total: 0, decode: 0, infer: 0 };
        return { features: { ids: [], dim: Math.max(cnnDim, 1), data: new Float32Array(0), fingerprint }, skipped: items.map((i) => ({ path: i.path, reason })), seconds };
      }
      if (!fuse || !ex.histograms) return { features: ex.features, skipped: ex.skipped, seconds: ex.seconds };
      const hd = HISTOGRAM_BINS ** 3;
      const dim = cnnDim + hd;
      const data = new Float32Array(ex.features.ids.length * dim);
      for (let i = 0; i < ex.features.ids.length; i++) {
        data.set(ex.features.data.subarray(i * cnnDim, (i + 1) * cnnDim), i * dim);
        data.set(ex.histograms[i], i * dim + cnnDim);
      }
      return { features: { ids: ex.features.ids, dim, data, fingerprint }, skipped: ex.skipped, seconds: ex.seconds };
    },
    dispose: () => {
      if (!opts.backbone) backbone.dispose();
    },
  };
}
