/**
 * The one pipeline every command runs: `Pipeline.open(config)` loads the backbone named by the config;
 * `extract(items)` gives the raw vectors an index stores (pooled CNN vectors, with the square-rooted colour
 * histogram appended when histogram fusion is on); `fit(items)` extracts a database and fits the
 * post-processing on it (centre, L2, PCA-whitening, histogram fusion); the FittedPipeline it returns
 * transforms queries the same way, ranks, and serialises with toJSON(), which is what lib/store/ keeps.
 * The config is resolved once, by the command's entry point, and passed down resolved.
 */
import type { Backbone } from "../backbone/types";
// static imports: tslab (the notebooks' kernel) cannot require() a TypeScript file at run time
import { loadBackbone } from "../backbone/load";
import { backboneFingerprint, extractFeatures, type ExtractResult } from "../extract/features";
import { resolveConfig, withLayer, type ConfigInput, type FeatureSettings, type PostSettings, type ResolvedConfig, type SearchSettings } from "../config";
import { CbirError, isCbirError } from "../errors";
import { colorHistogram } from "../extract/histogram";
import { extendFingerprint, type Fingerprint } from "../fingerprint";
import { FUSE_WHITEN_SHRINKAGE, applyPostprocess, parsePostSteps, postprocess, postStepLabel, postToJSON, type FittedPost, type PostStep } from "../reduce/postprocess";
import { pooledDim } from "../extract/pooling/index";
import type { Reporter } from "../report";
import type { FeatureMatrix, FittedPipeline, FittedPipelineJSON, ImageItem, PostFitter, SkippedFile } from "../types";

export const HISTOGRAM_BINS = 8;

/** Raw vectors of the images that decode, in item order; `seconds` splits the time spent. */
export interface RawVectors {
  features: FeatureMatrix;
  skipped: SkippedFile[];
  seconds: ExtractResult["seconds"];
}

/** The post-processing a config asks for (see lib/reduce/postprocess.ts for each step). */
export function postSteps(post: PostSettings, cnnDim: number): PostStep[] {
  if (post.histogramWeight > 0) return [{ fuse: post.whiten > 0 ? { split: cnnDim, weight: post.histogramWeight, center: post.center, whiten: post.whiten } : { split: cnnDim, weight: post.histogramWeight, center: post.center } }];
  if (post.whiten > 0) return ["l2", { pca: post.whiten, whiten: true, shrinkage: FUSE_WHITEN_SHRINKAGE }, "l2"];
  return post.center ? ["center", "l2"] : ["l2"];
}

/** Fingerprint of the raw vectors a backbone makes with these settings (the histogram block included). */
export function rawFingerprint(backbone: Backbone, f: FeatureSettings): Fingerprint {
  const cnn = backboneFingerprint(backbone, f.pooling, f.gemP);
  return f.histogram ? extendFingerprint(cnn, { extra: { histogram: `rgb${HISTOGRAM_BINS}-sqrt` } }) : cnn;
}

/** The settings as an index manifest records them. */
export function manifestRecord(c: ResolvedConfig): Record<string, string | number | boolean> {
  const { features: f, post: p } = c;
  return { model: f.model, layer: f.layer, pooling: f.pooling, gemP: f.gemP, runtime: f.runtime, histogramWeight: p.histogramWeight, whiten: p.whiten, center: p.center };
}

/**
 * Fits the post-processing of `c` on raw vectors whose first `cnnDim` values are the CNN block; returns the
 * fitted pipeline and the vectors it makes of them. Pipeline.fit and sweep() both fit through here.
 */
export function fitPost(raw: FeatureMatrix, c: ResolvedConfig, cnnDim: number, reporter?: Reporter): { fitted: FittedPipeline; features: FeatureMatrix } {
  const steps = postSteps(c.post, cnnDim);
  const { features, state } = postprocess(raw, steps, reporter);
  return { fitted: new FittedPostProcessing(manifestRecord(c), state, steps, features.fingerprint), features };
}

/**
 * A fitter of explicit steps ("center", "l2", ... or their parsed form), for a store built without a
 * loaded pipeline (tests, benches, a table of vectors from elsewhere).
 */
export function stepsFitter(steps: readonly (PostStep | string)[], reporter?: Reporter): PostFitter {
  const parsed = steps.flatMap((st) => (typeof st === "string" ? parsePostSteps(st) : [st]));
  return {
    steps: parsed.map(postStepLabel),
    fit(raw) {
      const { features, state } = postprocess(raw, parsed, reporter);
      return { fitted: new FittedPostProcessing({}, state, parsed, features.fingerprint), features };
    },
  };
}

/** The ranking options a config's search settings give (lib/evaluate/ranked.ts rankAndEvaluate, the rank engine). */
export function searchOptions(search: SearchSettings): { metric: SearchSettings["metric"]; queryExpansion: number; vectors: SearchSettings["vectors"]; refine: number } {
  return { metric: search.metric, queryExpansion: search.queryExpansion, vectors: search.vectors, refine: search.refine };
}

/** Reporter without progress: the caller draws one bar over all batches. */
function quiet(reporter?: Reporter): Reporter | undefined {
  return reporter ? { log: reporter.log?.bind(reporter), notice: reporter.notice?.bind(reporter) } : undefined;
}

/** A post-processing fitted on a database: what a stored index keeps, and applies to its queries. */
class FittedPostProcessing implements FittedPipeline {
  readonly steps: string[];
  constructor(
    readonly settings: Record<string, string | number | boolean>,
    private readonly post: FittedPost,
    stepList: readonly PostStep[],
    readonly fingerprint: Fingerprint,
  ) {
    this.steps = stepList.map(postStepLabel);
  }
  transformVectors(raw: FeatureMatrix): FeatureMatrix {
    return applyPostprocess(raw, this.post);
  }
  toJSON(): FittedPipelineJSON {
    return { settings: { ...this.settings }, steps: [...this.steps], state: postToJSON(this.post), fingerprint: this.fingerprint };
  }
}

/** The database a pipeline was fitted on: its final vectors, ready to rank. */
export interface FittedDatabase {
  fitted: FittedPipeline;
  /** Final vectors, one row per usable image. */
  features: FeatureMatrix;
  /** Raw vectors (pooled CNN, with the histogram block when fusion is on). */
  raw: FeatureMatrix;
  /** Items in row order (skipped images removed). */
  items: ImageItem[];
  skipped: SkippedFile[];
  seconds: ExtractResult["seconds"] & { post: number };
}

export class Pipeline {
  /** The command's config, with the layer the backbone resolved "" to. */
  readonly config: ResolvedConfig;
  /** Fingerprint of the raw vectors. */
  readonly fingerprint: Fingerprint;
  /** Length of the pooled CNN block of a raw vector. */
  readonly cnnDim: number;
  /** Post-processing to fit on the database. */
  readonly post: PostStep[];

  private constructor(
    config: ResolvedConfig,
    readonly backbone: Backbone,
    private readonly ownsBackbone: boolean,
    private readonly reporter: Reporter | undefined,
    private readonly progress: boolean,
  ) {
    const f = config.features;
    this.config = withLayer(config, backbone.layer);
    this.fingerprint = rawFingerprint(backbone, f);
    this.cnnDim = pooledDim(backbone.outputShape, f.pooling);
    this.post = postSteps(config.post, this.cnnDim);
  }

  /**
   * Loads the backbone named by the config (or borrows `opts.backbone`, which `dispose` then leaves alone).
   * `progress`: draw the extraction's progress bar (default false: the caller draws one over all batches).
   */
  static async open(config: ConfigInput, opts: { reporter?: Reporter; progress?: boolean; backbone?: Backbone } = {}): Promise<Pipeline> {
    const c = resolveConfig(config);
    const f = c.features;
    const backbone = opts.backbone ?? (await loadBackbone(f.model, { layer: f.layer || undefined, runtime: f.runtime, reporter: opts.reporter }));
    return new Pipeline(c, backbone, !opts.backbone, opts.reporter, Boolean(opts.progress));
  }

  /** The settings as recorded in an index manifest. */
  get record(): Record<string, string | number | boolean> {
    return manifestRecord(this.config);
  }

  /** What a store refits on its rows: this pipeline's post-processing. */
  get postFitter(): PostFitter {
    return { steps: this.post.map(postStepLabel), fit: (raw) => this.fitVectors(raw) };
  }

  /** Raw vectors of `items`; images that fail to decode are skipped, never fatal. */
  async extract(items: ImageItem[]): Promise<RawVectors> {
    const f = this.config.features;
    let ex;
    try {
      ex = await extractFeatures(this.backbone, items, {
        pooling: f.pooling,
        gemP: f.gemP,
        batchSize: f.batchSize || undefined,
        histogram: f.histogram ? (rgb) => colorHistogram(rgb, HISTOGRAM_BINS) : undefined,
        reporter: this.progress ? this.reporter : quiet(this.reporter),
      });
    } catch (e) {
      // a batch in which no image decodes: every one of them is skipped, the run goes on
      if (!isCbirError(e) || e.code !== "E_NO_IMAGES") throw e;
      const reason = e.message;
      const seconds = { total: 0, decode: 0, infer: 0 };
      return { features: { ids: [], dim: Math.max(this.cnnDim, 1), data: new Float32Array(0), fingerprint: this.fingerprint }, skipped: items.map((i) => ({ path: i.path, reason })), seconds };
    }
    if (!f.histogram || !ex.histograms) return { features: ex.features, skipped: ex.skipped, seconds: ex.seconds };
    const hd = HISTOGRAM_BINS ** 3;
    const dim = this.cnnDim + hd;
    const data = new Float32Array(ex.features.ids.length * dim);
    for (let i = 0; i < ex.features.ids.length; i++) {
      data.set(ex.features.data.subarray(i * this.cnnDim, (i + 1) * this.cnnDim), i * dim);
      data.set(ex.histograms[i], i * dim + this.cnnDim);
    }
    return { features: { ids: ex.features.ids, dim, data, fingerprint: this.fingerprint }, skipped: ex.skipped, seconds: ex.seconds };
  }

  /**
   * Raw vectors of query images; none readable is one error naming `typed` (the first query as the user gave
   * it), each unreadable one having been reported already by the extraction, with its file and fix.
   */
  async extractQueries(queries: ImageItem[], typed = queries[0]?.path): Promise<RawVectors> {
    const ex = await this.extract(queries);
    if (ex.features.ids.length === 0) throw new CbirError("E_NO_IMAGES", "none of the query images could be read.", { file: typed, fix: "give readable images." });
    return ex;
  }

  /** Fits the post-processing on raw vectors; returns the fitted pipeline and the vectors it makes of them. */
  fitVectors(raw: FeatureMatrix): { fitted: FittedPipeline; features: FeatureMatrix } {
    return fitPost(raw, this.config, this.cnnDim, this.reporter);
  }

  /** Extracts the database and fits the post-processing on it. */
  async fit(items: ImageItem[]): Promise<FittedDatabase> {
    const ex = await this.extract(items);
    if (ex.features.ids.length === 0) {
      throw new CbirError("E_NO_IMAGES", `none of the ${items.length} images could be decoded (first: ${ex.skipped[0]?.reason}).`, {
        file: ex.skipped[0]?.path,
        fix: "check that the folder holds valid JPEG/PNG/WebP images.",
      });
    }
    const t = performance.now();
    const { fitted, features } = this.fitVectors(ex.features);
    const kept = new Set(ex.features.ids);
    return { fitted, features, raw: ex.features, items: items.filter((it) => kept.has(it.name)), skipped: ex.skipped, seconds: { ...ex.seconds, post: (performance.now() - t) / 1000 } };
  }

  /** Vectors of query images, transformed by a fitted pipeline (the database's). */
  async transform(items: ImageItem[], fitted: FittedPipeline): Promise<RawVectors> {
    const ex = await this.extract(items);
    return { ...ex, features: fitted.transformVectors(ex.features) };
  }

  dispose(): void {
    if (this.ownsBackbone) this.backbone.dispose();
  }
}
