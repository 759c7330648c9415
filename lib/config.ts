/**
 * One configuration for the whole pipeline, with frozen defaults merged field by field (a partial config
 * never drops the other defaults). Validated at the entry, in one wording (see lib/errors.ts).
 */
import { expectOneOf, invalidOption } from "./errors";
import { poolingNames, type Pooling } from "./extract/pooling/index";
import { RUNTIMES, type RuntimeName } from "./backbone/types";
import { checkModelName } from "./backbone/sources/index";
import { ENCODINGS, type Encoding } from "./rank/encoding";
import { FEATURE_METRICS, type FeatureMetricName } from "./rank/metrics/index";

/**
 * Scores the pipeline ranks feature vectors by: the registered vector metrics usable on features
 * (lib/rank/metrics; image SSIM and dHash work on pixels).
 */
export const PIPELINE_METRICS = FEATURE_METRICS;
export type PipelineMetric = FeatureMetricName;

export interface PipelineConfig {
  /** Backbone name: bundled (`nsfwjs/inception_v3`), zoo (`mobilenet_v1_0.75_224`), a model.json or .h5 path. */
  model: string;
  /** Cut layer; "" means the backbone's documented default. */
  layer: string;
  pooling: Pooling;
  /** GeM exponent when `pooling` is "gem" (1 = average, larger leans towards the maximum); in the fingerprint. */
  gemP: number;
  metric: PipelineMetric;
  /** Neighbours per query. */
  k: number;
  /** Subtract the database mean before L2 normalisation (measured to help on every set tried). */
  center: boolean;
  /** Weight of the square-rooted colour histogram fused with the CNN vector; 0 turns fusion off. */
  histogramWeight: number;
  /**
   * PCA-whitening of the CNN vectors to this many dimensions, learned on the database and regularised
   * (lib/reduce/pca.ts, shrinkage 1); 0 turns it off. Clamped to the rank for small databases.
   */
  whiten: number;
  /**
   * Query expansion over the top n hits, weighted by similarity, with the database rows expanded the same
   * way (alpha-QE with database-side augmentation, lib/rank/rerank.ts); 0 turns both off.
   */
  queryExpansion: number;
  /**
   * Encoding the rows are ranked on (lib/rank/encoding.ts): "f32" exact, "f16" / "i8" compressed codes of
   * the prepared rows scored on ONNX Runtime (eval and demo; an index keeps its own, see `cbir index`).
   */
  vectors: Encoding;
  /** With f16 / i8: re-score each query's best refine x k with float32 dot products (1 = off). */
  refine: number;
  /** Inference runtime. */
  runtime: RuntimeName;
  /** Where figures and reports go. */
  outDir: string;
  /** Images per inference batch; 0 chooses from the layer size. */
  batchSize: number;
  /** Draw the t-SNE map. */
  tsne: boolean;
  /** Seed for t-SNE (deterministic maps). */
  seed: number;
}

/**
 * The default offline pipeline: the bundled ImageNet MobileNet v1 0.75 with every setting chosen by
 * `npm run bench -- quality` on the first half of each food7 class only (see bench/choose-default.md).
 */
export const DEFAULT_CONFIG: Readonly<PipelineConfig> = Object.freeze({
  model: "mobilenet_v1_0.75_224",
  layer: "conv_pw_13_relu",
  pooling: "gem",
  gemP: 2,
  metric: "cosine",
  k: 5,
  center: true,
  histogramWeight: 0.25,
  whiten: 0,
  queryExpansion: 10,
  vectors: "f32",
  refine: 1,
  runtime: "onnx",
  outDir: "output_new",
  batchSize: 0,
  tsne: true,
  seed: 42,
} as PipelineConfig);

/** Upper bounds of the count options: far above any real use, low enough that nothing allocates by mistake. */
const MAX_COUNT = 1_000_000;
const MAX_DIMS = 65_536;
const MAX_BATCH = 4096;

/** What makes the raw vectors: the backbone, its cut, the pooling, the runtime (all in the fingerprint but the runtime and batch). */
export interface FeatureSettings {
  readonly model: string;
  /** "" until the backbone is loaded: its documented default (Pipeline.config has the layer it used). */
  readonly layer: string;
  readonly pooling: Pooling;
  readonly gemP: number;
  readonly runtime: RuntimeName;
  readonly batchSize: number;
  /** A colour histogram is extracted beside the CNN vector (histogram fusion is on). */
  readonly histogram: boolean;
}

/** The post-processing fitted on the database (lib/pipeline/pipeline.ts postSteps). */
export interface PostSettings {
  readonly center: boolean;
  readonly histogramWeight: number;
  readonly whiten: number;
}

/** How the vectors are ranked. */
export interface SearchSettings {
  readonly metric: PipelineMetric;
  readonly k: number;
  readonly queryExpansion: number;
  readonly vectors: Encoding;
  readonly refine: number;
}

/** Read only by the demo and the CLI. */
export interface OutputSettings {
  readonly outDir: string;
  readonly tsne: boolean;
  readonly seed: number;
}

const RESOLVED = Symbol.for("cbir.resolvedConfig");

/**
 * A validated config, grouped by the stage that reads it. Made only by resolveConfig, once per command:
 * the functions below a command's entry take this, never a partial config, so nothing is checked twice.
 */
export interface ResolvedConfig {
  readonly [RESOLVED]: true;
  readonly features: FeatureSettings;
  readonly post: PostSettings;
  readonly search: SearchSettings;
  readonly output: OutputSettings;
  /** The flat form, every field set: what report.json and the index manifests record. */
  readonly settings: Readonly<PipelineConfig>;
}

/** A config as the public entry points take it: partial (defaults fill the rest) or already resolved. */
export type ConfigInput = Partial<PipelineConfig> | ResolvedConfig;

export function isResolvedConfig(c: unknown): c is ResolvedConfig {
  return typeof c === "object" && c !== null && (c as Record<symbol, unknown>)[RESOLVED] === true;
}

let resolutions = 0;
/** How many configs have been resolved in this process (a test checks that a command resolves one). */
export function configResolutions(): number {
  return resolutions;
}

function checkInt(name: string, v: unknown, lo: number, hi: number, expected: string): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo) throw invalidOption(name, expected, v);
  if (v > hi) throw invalidOption(name, `${expected} up to ${hi}`, v);
}

/** Fills the defaults field by field and validates every value, before any image is read or a model loaded. */
export function resolveConfig(partial: ConfigInput = {}): ResolvedConfig {
  if (isResolvedConfig(partial)) return partial;
  resolutions++;
  const c: PipelineConfig = { ...DEFAULT_CONFIG };
  for (const [key, value] of Object.entries(partial) as [keyof PipelineConfig, unknown][]) {
    if (value !== undefined) (c as unknown as Record<string, unknown>)[key] = value;
  }
  // a different model without a layer falls back to that model's own default layer
  if (partial.model !== undefined && partial.model !== DEFAULT_CONFIG.model && partial.layer === undefined) c.layer = "";
  // the whitening dimension was chosen for the default backbone; another model gets it only when asked
  if (partial.model !== undefined && partial.model !== DEFAULT_CONFIG.model && partial.whiten === undefined) c.whiten = 0;
  if (typeof c.model !== "string" || c.model === "") throw invalidOption("model", "non-empty string", c.model);
  checkModelName(c.model); // a name no backbone source takes is refused with the registered names
  if (typeof c.layer !== "string") throw invalidOption("layer", "string", c.layer);
  expectOneOf("pooling", c.pooling, poolingNames());
  if (typeof c.gemP !== "number" || !Number.isFinite(c.gemP) || c.gemP < 1) throw invalidOption("gemP", "number >= 1", c.gemP);
  expectOneOf("metric", c.metric, PIPELINE_METRICS);
  expectOneOf("runtime", c.runtime, RUNTIMES);
  // bounded so that a typo (1e9, Infinity) is refused here, before any image is read or a model loaded
  checkInt("k", c.k, 1, MAX_COUNT, "positive integer");
  if (typeof c.histogramWeight !== "number" || !Number.isFinite(c.histogramWeight) || c.histogramWeight < 0)
    throw invalidOption("histogramWeight", "finite number >= 0", c.histogramWeight);
  checkInt("whiten", c.whiten, 0, MAX_DIMS, "integer >= 0 (0 = off)");
  checkInt("queryExpansion", c.queryExpansion, 0, MAX_COUNT, "integer >= 0 (0 = off)");
  expectOneOf("vectors", c.vectors, ENCODINGS);
  checkInt("refine", c.refine, 1, MAX_COUNT, "integer >= 1 (1 = off)");
  checkInt("batchSize", c.batchSize, 0, MAX_BATCH, "integer >= 0");
  if (!Number.isSafeInteger(c.seed)) throw invalidOption("seed", "integer", c.seed);
  if (typeof c.center !== "boolean") throw invalidOption("center", "boolean", c.center);
  if (typeof c.tsne !== "boolean") throw invalidOption("tsne", "boolean", c.tsne);
  if (typeof c.outDir !== "string" || c.outDir === "") throw invalidOption("outDir", "non-empty string", c.outDir);
  return Object.freeze({
    [RESOLVED]: true as const,
    features: Object.freeze({ model: c.model, layer: c.layer, pooling: c.pooling, gemP: c.gemP, runtime: c.runtime, batchSize: c.batchSize, histogram: c.histogramWeight > 0 }),
    post: Object.freeze({ center: c.center, histogramWeight: c.histogramWeight, whiten: c.whiten }),
    search: Object.freeze({ metric: c.metric, k: c.k, queryExpansion: c.queryExpansion, vectors: c.vectors, refine: c.refine }),
    output: Object.freeze({ outDir: c.outDir, tsne: c.tsne, seed: c.seed }),
    settings: Object.freeze(c),
  });
}

/** The same config with the layer the backbone resolved "" to (recorded in reports and manifests). */
export function withLayer(c: ResolvedConfig, layer: string): ResolvedConfig {
  if (c.features.layer === layer) return c;
  return Object.freeze({ ...c, features: Object.freeze({ ...c.features, layer }), settings: Object.freeze({ ...c.settings, layer }) });
}
