/**
 * Approximate nearest neighbours for large collections: an HNSW graph from `usearch` (prebuilt native
 * addon). Same inputs and outputs as exact search (FeatureMatrix in, Ranking out), so evaluate() measures
 * what the approximation costs in recall. Loaded lazily: nothing else in the toolkit needs the addon.
 */
import { CbirError, expectOneOf, invalidOption } from "../errors";
import { assertSameFingerprint } from "../fingerprint";
import type { FeatureMatrix, Hit, Ranking } from "../types";
import { ownRow } from "./blocked";
import { ENCODINGS, type Encoding } from "./encoding";
import { HNSW_METRICS, vectorMetric, type HnswMetricName, type VectorMetric } from "./metrics/index";

export { HNSW_METRICS };
/** The metrics with a usearch distance (VectorMetric.usearch). */
export type HnswMetric = HnswMetricName;

export interface HnswOptions {
  /** Default "cosine". dhash bit vectors are searched with squared L2 (equal to Hamming on 0/1 values). */
  metric?: HnswMetric;
  /** Graph degree M (default 16). */
  connectivity?: number;
  /** Candidate list size while building (default 128) and searching (default 64): larger is slower and more exact. */
  expansionAdd?: number;
  expansionSearch?: number;
  /** Native threads (default 1). */
  threads?: number;
  /** Scalars the graph stores its vectors as (default "f32"; "f16" halves and "i8" quarters them: usearch converts on add). */
  quantization?: Encoding;
  labels?: Map<string, string>;
}

type UsearchModule = typeof import("usearch");

function loadUsearch(): UsearchModule {
  try {
    return require("usearch") as UsearchModule;
  } catch (e) {
    throw new CbirError("E_BAD_OPTION", `the HNSW index needs the 'usearch' package, which could not be loaded (${(e as Error).message.split("\n")[0]}).`, {
      fix: "run `npm install usearch@2.26.2`, or use exact search (it is fast up to a few hundred thousand vectors).",
    });
  }
}

export class HnswIndex {
  private constructor(
    private readonly index: InstanceType<UsearchModule["Index"]>,
    readonly db: FeatureMatrix,
    readonly metric: HnswMetric,
    private readonly scoring: VectorMetric,
    private readonly threads: number,
    private readonly labels: Map<string, string> | undefined,
    /** The scalars the graph stores. */
    readonly scalar: Encoding,
  ) {}

  static build(db: FeatureMatrix, opts: HnswOptions = {}): HnswIndex {
    const metric = expectOneOf("metric", opts.metric ?? "cosine", HNSW_METRICS);
    const scoring = vectorMetric(metric);
    const threads = opts.threads ?? 1;
    const scalar = expectOneOf("quantization", opts.quantization ?? "f32", ENCODINGS);
    const us = loadUsearch();
    const index = new us.Index({
      dimensions: db.dim,
      metric: scoring.usearch!.kind === "cos" ? us.MetricKind.Cos : us.MetricKind.L2sq,
      quantization: { f32: us.ScalarKind.F32, f16: us.ScalarKind.F16, i8: us.ScalarKind.I8 }[scalar],
      connectivity: opts.connectivity ?? 16,
      expansion_add: opts.expansionAdd ?? 128,
      expansion_search: opts.expansionSearch ?? 64,
      multi: false,
    });
    if (db.ids.length > 0) {
      const keys = new BigUint64Array(db.ids.length);
      for (let i = 0; i < keys.length; i++) keys[i] = BigInt(i);
      index.add(keys, db.data, threads);
    }
    return new HnswIndex(index, db, metric, scoring, threads, opts.labels, scalar);
  }

  get size(): number {
    return this.index.size();
  }

  /** Top-k of each query; `leaveOneOut` drops each query's own row (queries must be the database). */
  search(queries: FeatureMatrix, opts: { k?: number; leaveOneOut?: boolean; queryLabels?: Map<string, string> } = {}): Ranking[] {
    if (queries !== this.db) assertSameFingerprint(this.db.fingerprint, queries.fingerprint);
    const k = opts.k ?? 10;
    if (!Number.isInteger(k) || k < 1) throw invalidOption("k", "positive integer (HNSW returns a top-k, not a full ranking)", opts.k);
    const loo = Boolean(opts.leaveOneOut);
    const want = Math.min(k + (loo ? 1 : 0), this.db.ids.length);
    const hib = this.scoring.higherIsBetter;
    const score = this.scoring.usearch!.score;
    const out: Ranking[] = [];
    const qLabels = loo ? this.labels : opts.queryLabels;
    for (let qi = 0; qi < queries.ids.length; qi++) {
      const res = this.index.search(queries.data.subarray(qi * queries.dim, (qi + 1) * queries.dim), want, this.threads) as { keys: BigUint64Array; distances: Float32Array };
      const hits: Hit[] = [];
      for (let j = 0; j < res.keys.length && hits.length < k; j++) {
        const row = Number(res.keys[j]);
        if (row === ownRow(loo, qi) || row >= this.db.ids.length) continue;
        const id = this.db.ids[row];
        const label = this.labels?.get(id);
        const s = score(res.distances[j]);
        hits.push(label === undefined ? { id, score: s } : { id, score: s, label });
      }
      const r: Ranking = { query: queries.ids[qi], hits, metric: `${this.metric}+hnsw`, higherIsBetter: hib };
      const ql = qLabels?.get(queries.ids[qi]);
      if (ql !== undefined) r.queryLabel = ql;
      out.push(r);
    }
    return out;
  }

  /**
   * Writes the graph (usearch's own format, vectors included); reload with `HnswIndex.load(file, db)` and
   * the same ids (db.data may be empty: the graph holds its own vectors).
   */
  save(file: string): void {
    this.index.save(file);
  }

  static load(file: string, db: FeatureMatrix, opts: HnswOptions = {}): HnswIndex {
    const h = HnswIndex.build({ ...db, ids: [], data: new Float32Array(0) }, opts);
    h.index.load(file);
    if (h.index.size() !== db.ids.length)
      throw new CbirError("E_INDEX_CORRUPT", `HNSW graph holds ${h.index.size()} vectors but the index has ${db.ids.length}.`, { file, fix: "delete the graph file; it is rebuilt." });
    return new HnswIndex(h.index, db, h.metric, h.scoring, h.threads, opts.labels, h.scalar);
  }
}
