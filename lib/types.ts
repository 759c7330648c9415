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

/** Row `i` of a feature matrix as a view (no copy). */
export function row(m: FeatureMatrix, i: number): Float32Array {
  return m.data.subarray(i * m.dim, (i + 1) * m.dim);
}
