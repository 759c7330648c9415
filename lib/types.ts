/**
 * The contract between stages. Every stage (prepare, extract, reduce, index, rank, evaluate, plot)
 * takes and returns only these, so one evaluation and one plotting path serve every backbone and metric.
 */
import type { Fingerprint } from "./fingerprint";

/** One image of a database or one external query. */
export interface ImageItem {
  /** Absolute path on disk. */
  path: string;
  /** Path relative to the database root, with `/` separators: the image's id everywhere else. */
  name: string;
  /** Class label when one is known (file-name prefix, sub-folder or labels.csv). */
  label?: string;
}

/** A file that could not be used, and why. Skipped files are reported, never fatal. */
export interface SkippedFile {
  path: string;
  reason: string;
}

/** Row-major matrix of feature vectors: row i belongs to ids[i]. */
export interface FeatureMatrix {
  ids: string[];
  dim: number;
  data: Float32Array;
  fingerprint: Fingerprint;
}

export interface Hit {
  id: string;
  score: number;
  label?: string;
}

/** The ranked neighbours of one query, best first. */
export interface Ranking {
  query: string;
  queryLabel?: string;
  hits: Hit[];
  /** Name of the score used, and its direction. */
  metric: string;
  higherIsBetter: boolean;
}

/**
 * A pipeline fitted on a database (lib/pipeline/pipeline.ts): it turns raw vectors of its extractor into the
 * vectors that are ranked, the same way for the database and for every later query. Here, with the shared
 * types, so the stages below the pipeline (store, evaluate) can take one without importing upward.
 */
export interface FittedPipeline {
  /** The settings that made the raw vectors and the fitted steps (as an index manifest records them). */
  readonly settings: Record<string, string | number | boolean>;
  /** The fitted post-processing steps, by label ("center", "l2", "pcaw32s1", "fuse576w0.25c"). */
  readonly steps: string[];
  /** Of the vectors transformVectors returns. */
  readonly fingerprint: Fingerprint;
  transformVectors(raw: FeatureMatrix): FeatureMatrix;
  toJSON(): FittedPipelineJSON;
}

/**
 * The post-processing a store refits on all its rows when they change: the pipeline's (Pipeline.postFitter).
 * The store records the steps and the fitted state it returns; it never fits anything itself.
 */
export interface PostFitter {
  /** The steps by label ("center", "l2", "pcaw32s1", "fuse576w0.25c"), as the store records them. */
  readonly steps: readonly string[];
  /** Fits on every row; returns the fitted pipeline and the rows it makes. */
  fit(raw: FeatureMatrix): { fitted: FittedPipeline; features: FeatureMatrix };
}

/** A fitted pipeline as plain JSON: its fitted state is data, arrays as base64 float32. */
export interface FittedPipelineJSON {
  settings: Record<string, string | number | boolean>;
  steps: string[];
  state: { steps: Record<string, unknown>[] };
  fingerprint: Fingerprint;
}

/** Row `i` of a feature matrix as a view (no copy). */
export function row(m: FeatureMatrix, i: number): Float32Array {
  return m.data.subarray(i * m.dim, (i + 1) * m.dim);
}
