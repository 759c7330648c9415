/**
 * The similarity scores, as a registry. A feature-vector metric (types.ts VectorMetric) is one file here
 * plus one line in BUILTIN_METRICS; the pipeline's metric list (config.ts PIPELINE_METRICS), the CLI's
 * `--metric` choices, the HNSW index, the f16 / i8 kernels and query expansion all read it from here.
 * A metric defined outside lib/ joins at run time with registerMetric (and, for the type checker, an
 * augmentation of RegisteredMetricNames).
 *
 * ssim-image is not a vector metric: it compares the pixels of two images with windowed SSIM
 * (structural-similarity.ts), no dot products, so it stays a name of its own (IMAGE_METRICS).
 */
import { CbirError, expectOneOf } from "../../errors";
import { cosine } from "./cosine";
import { dhash } from "./dhash";
import { euclidean } from "./euclidean";
import { sqeuclidean } from "./sqeuclidean";
import { ssimFeatures } from "./ssim-features";
import { ssimOverEuclidean } from "./ssim-over-euclidean";
import type { VectorMetric } from "./types";

export type { RowStats, ScoreContext, VectorMetric } from "./types";
export { vectorSsim } from "./ssim-features";

const BUILTIN_METRICS = {
  cosine,
  euclidean,
  sqeuclidean,
  "ssim-features": ssimFeatures,
  "ssim-over-euclidean": ssimOverEuclidean,
  dhash,
} as const;

type Builtin = typeof BUILTIN_METRICS;

/**
 * Names of metrics registered at run time. A module that calls registerMetric adds its name for the type
 * checker: `declare module "<path>/lib/rank/metrics/index" { interface RegisteredMetricNames { "my-metric": true } }`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface RegisteredMetricNames {}
type RegisteredName = Extract<keyof RegisteredMetricNames, string>;

export type VectorMetricName = keyof Builtin | RegisteredName;
/** The vector metrics the pipeline may rank features by (onFeatures). */
export type FeatureMetricName = { [K in keyof Builtin]: Builtin[K]["onFeatures"] extends true ? K : never }[keyof Builtin] | RegisteredName;
/** The vector metrics the HNSW index serves (those with a `usearch` distance). */
export type HnswMetricName = { [K in keyof Builtin]: Builtin[K] extends { usearch: object } ? K : never }[keyof Builtin] | RegisteredName;
export const IMAGE_METRICS = ["ssim-image"] as const;
export type ImageMetricName = (typeof IMAGE_METRICS)[number];
/** Every score name: the vector metrics and ssim-image. */
export type Metric = VectorMetricName | ImageMetricName;

const registry = new Map<string, VectorMetric>();
// live lists: registerMetric appends to them, so a metric registered before the CLI or a config is read is offered there too
const vectorNames: VectorMetricName[] = [];
const featureNames: FeatureMetricName[] = [];
const hnswNames: HnswMetricName[] = [];
const allNames: Metric[] = [...IMAGE_METRICS];

/** Every metric name, vector metrics in registration order, then ssim-image. */
export const METRICS: readonly Metric[] = allNames;
/** The metrics computed from dot products (every registered one): what ExactIndex, refine and the f16 / i8 kernels take. */
export const VECTOR_METRICS: readonly VectorMetricName[] = vectorNames;
/** The vector metrics usable on feature vectors (all but dhash): config.ts PIPELINE_METRICS. */
export const FEATURE_METRICS: readonly FeatureMetricName[] = featureNames;
/** The vector metrics with a usearch distance: what HnswIndex builds graphs for. */
export const HNSW_METRICS: readonly HnswMetricName[] = hnswNames;

/** Adds a vector metric to the registry (refused when the name is taken or the object is incomplete). */
export function registerMetric(metric: VectorMetric): void {
  const name = metric?.name;
  if (typeof name !== "string" || !/^[a-z0-9][a-z0-9+._-]*$/.test(name))
    throw new CbirError("E_BAD_OPTION", `a metric's name must be lower-case letters, digits and + . _ - (got ${JSON.stringify(name)}).`, { fix: "name the metric like the built-in ones, e.g. \"manhattan\"." });
  if (registry.has(name) || (IMAGE_METRICS as readonly string[]).includes(name))
    throw new CbirError("E_BAD_OPTION", `a metric named "${name}" is already registered.`, { fix: "choose another name; the registered ones are " + METRICS.join(", ") + "." });
  for (const key of ["prepare", "finish"] as const)
    if (typeof metric[key] !== "function") throw new CbirError("E_BAD_OPTION", `metric "${name}" has no ${key} function.`, { fix: "implement VectorMetric (lib/rank/metrics/types.ts)." });
  if (typeof metric.higherIsBetter !== "boolean" || typeof metric.onFeatures !== "boolean")
    throw new CbirError("E_BAD_OPTION", `metric "${name}" must say higherIsBetter and onFeatures (true or false).`, { fix: "implement VectorMetric (lib/rank/metrics/types.ts)." });
  registry.set(name, metric);
  vectorNames.push(name as VectorMetricName);
  if (metric.onFeatures) featureNames.push(name as FeatureMetricName);
  if (metric.usearch) hnswNames.push(name as HnswMetricName);
  allNames.splice(allNames.length - IMAGE_METRICS.length, 0, name as Metric);
}

for (const metric of Object.values(BUILTIN_METRICS)) registerMetric(metric);

/** A metric name, checked against every registered name (vector metrics and ssim-image). */
export function checkMetric(name: unknown): Metric {
  return expectOneOf("metric", name, METRICS);
}

export function isVectorMetric(name: Metric): name is VectorMetricName {
  return registry.has(name);
}

/** The registered vector metric of this name; the error lists the valid names. */
export function vectorMetric(name: unknown): VectorMetric {
  const metric = typeof name === "string" ? registry.get(name) : undefined;
  if (!metric) expectOneOf("metric", name, VECTOR_METRICS);
  return metric!;
}

export function higherIsBetter(name: Metric): boolean {
  const checked = checkMetric(name);
  return isVectorMetric(checked) ? registry.get(checked)!.higherIsBetter : true; // ssim-image: a similarity
}

/** max - min over all values: the L of the SSIM constants, fixed per database so scores are comparable. */
export function dataRange(data: Float32Array): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return hi > lo ? hi - lo : 1;
}
