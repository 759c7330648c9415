/**
 * Ranking and evaluation in one blocked pass, for any collection size (`cbir eval`, the demo): the rankings
 * keep only the top hits, and each query's average precision over its full ranking is computed from its
 * score row as the blocks arrive (ScoreRowAveragePrecision), so memory is O(n k) plus one block instead of
 * the n x (n - 1) ranking that evaluate() needs for mAP. P@k, recall@k, mAP, the per-class table and the
 * confusion table are the same numbers, to the last bit, as evaluate() over full rankings.
 */
import { exactSearch, type ExactSearchOptions } from "../rank/exact";
import { ownRow } from "../rank/blocked";
import { higherIsBetter } from "../rank/metrics/index";
import type { FeatureMatrix, Ranking } from "../types";
import { cutoffsOf, evaluate, type Evaluation } from "./evaluate";
import { ScoreRowAveragePrecision } from "./metrics";

export type RankEvaluateOptions = Omit<ExactSearchOptions, "k" | "labels" | "onRow"> & {
  /** P@k and recall@k cut-offs (default [1, 5, 10]). */
  k?: number[];
  /** Hits kept per query in the returned rankings (default: the largest cut-off). */
  keep?: number;
  /** Labels of the database rows (id -> label). */
  labels: Map<string, string>;
  /** External queries (default: leave-one-out over the database); their labels in `queryLabels`. */
  queries?: FeatureMatrix;
  /** Compute the evaluation (default true); false only ranks, as for an unlabelled folder. */
  evaluate?: boolean;
};

export interface RankedEvaluation {
  /** Top `keep` hits per query, in query order. */
  rankings: Ranking[];
  evaluation: Evaluation | null;
}

export async function rankAndEvaluate(db: FeatureMatrix, opts: RankEvaluateOptions): Promise<RankedEvaluation> {
  const ks = cutoffsOf(opts.k);
  const keep = Math.max(...ks, opts.keep ?? 0);
  const { labels, queries } = opts;
  const loo = queries === undefined;
  const scored = opts.evaluate ?? true;
  const members = new Map<string, number[]>();
  db.ids.forEach((id, j) => {
    const label = labels.get(id);
    if (label === undefined) return;
    const list = members.get(label) ?? [];
    list.push(j);
    members.set(label, list);
  });
  const relevant = new Map([...members].map(([label, rows]) => [label, Int32Array.from(rows)] as const));
  const q = queries ?? db;
  const ap = new Float64Array(q.ids.length).fill(NaN);
  const counter = scored ? new ScoreRowAveragePrecision(db.ids.length) : undefined;
  const hib = higherIsBetter(opts.metric ?? "cosine");
  const onRow = (qi: number, scores: Float32Array) => {
    const label = loo ? labels.get(db.ids[qi]) : opts.queryLabels?.get(q.ids[qi]);
    const rows = label === undefined ? undefined : relevant.get(label);
    if (rows) ap[qi] = counter!.compute(scores, rows, hib, ownRow(loo, qi));
  };
  const { k: _k, keep: _keep, queries: _q, evaluate: _e, ...rest } = opts;
  const rankOpts: ExactSearchOptions = { ...rest, k: keep, labels, onRow: counter ? onRow : undefined };
  const rankings = await exactSearch(db, loo ? "loo" : q, rankOpts);
  const evaluation = scored ? evaluate(rankings, { k: ks, dbLabels: labels, mode: loo ? "leave-one-out" : "external", averagePrecision: ap }) : null;
  return { rankings, evaluation };
}
