/**
 * One evaluation for every backbone, pooling and metric: mean P@k, recall@k and mAP, the same per class,
 * and a confusion table of the labels retrieved in the top k. Works for leave-one-out rankings (exactSearch(db, "loo"))
 * and for external queries whose label is known (rankQueries with queryLabels).
 */
import { invalidOption } from "../errors";
import type { Ranking } from "../types";
import { averagePrecision, precisionAtK, recallAtK } from "./metrics";

export interface EvaluateOptions {
  /** Cut-offs for P@k and recall@k (default [1, 5, 10]). The first one also sets the confusion table's depth. */
  k?: number[];
  /**
   * Labels of the whole database (id -> label), so recall and AP count relevant items missing from
   * truncated rankings. Without it the rankings are taken as full rankings.
   */
  dbLabels?: Map<string, string>;
  /** "leave-one-out": queries are database items and do not count themselves as relevant (default: inferred). */
  mode?: "leave-one-out" | "external";
  /**
   * AP of each ranking (same order) over its full ranking, computed while the scores streamed by
   * (rankAndEvaluate): the rankings themselves then only need the top max(k) hits. Needs dbLabels.
   */
  averagePrecision?: ArrayLike<number>;
}

export interface ClassEvaluation {
  queries: number;
  precisionAtK: Record<number, number>;
  recallAtK: Record<number, number>;
  mAP: number;
}

export interface Evaluation {
  mode: "leave-one-out" | "external";
  metric: string;
  /** Queries that had a label and were scored. */
  queries: number;
  /** Queries without a label (not scored). */
  unlabeled: number;
  k: number[];
  precisionAtK: Record<number, number>;
  recallAtK: Record<number, number>;
  mAP: number;
  perClass: Record<string, ClassEvaluation>;
  /** rows: query label, columns: retrieved label, counts over the top k[0] hits of every query. */
  confusion: { k: number; labels: string[]; counts: number[][] };
}

const mean = (xs: number[]) => {
  const v = xs.filter((x) => !Number.isNaN(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
};

/** The P@k cut-offs asked for (default [1, 5, 10]), checked. */
export function cutoffsOf(k: unknown = [1, 5, 10]): number[] {
  if (!Array.isArray(k) || k.length === 0 || k.some((x) => !Number.isInteger(x) || x < 1)) throw invalidOption("k", "non-empty array of positive integers", k);
  return k;
}

export function evaluate(rankings: Ranking[], opts: EvaluateOptions = {}): Evaluation {
  const ks = cutoffsOf(opts.k);
  const given = opts.averagePrecision;
  if (given !== undefined && (given.length !== rankings.length || !opts.dbLabels))
    throw invalidOption("averagePrecision", `one value per ranking (${rankings.length}), with dbLabels`, given.length);
  const apOf = new Map<Ranking, number>();
  if (given) rankings.forEach((r, i) => apOf.set(r, given[i]));
  const labelled = rankings.filter((r) => r.queryLabel !== undefined);
  // Without database labels the queries cannot be told apart from database items: assume leave-one-out.
  const mode = opts.mode ?? (opts.dbLabels && !rankings.every((r) => opts.dbLabels!.has(r.query)) ? "external" : "leave-one-out");
  const classSize = new Map<string, number>();
  opts.dbLabels?.forEach((l) => classSize.set(l, (classSize.get(l) ?? 0) + 1));
  const total = (r: Ranking): number | undefined => {
    if (!opts.dbLabels || r.queryLabel === undefined) return undefined;
    const n = classSize.get(r.queryLabel) ?? 0;
    return mode === "leave-one-out" && opts.dbLabels.get(r.query) === r.queryLabel ? n - 1 : n;
  };

  const summarise = (rs: Ranking[]): ClassEvaluation => {
    const p: Record<number, number> = {};
    const rc: Record<number, number> = {};
    for (const k of ks) {
      p[k] = mean(rs.map((r) => precisionAtK(r, k)));
      rc[k] = mean(rs.map((r) => recallAtK(r, k, total(r))));
    }
    return { queries: rs.length, precisionAtK: p, recallAtK: rc, mAP: mean(rs.map((r) => apOf.get(r) ?? averagePrecision(r, total(r)))) };
  };

  const all = summarise(labelled);
  const byClass = new Map<string, Ranking[]>();
  for (const r of labelled) {
    const list = byClass.get(r.queryLabel!) ?? [];
    list.push(r);
    byClass.set(r.queryLabel!, list);
  }
  const perClass: Record<string, ClassEvaluation> = {};
  for (const label of [...byClass.keys()].sort()) perClass[label] = summarise(byClass.get(label)!);

  const depth = ks[0];
  const labelSet = new Set<string>(byClass.keys());
  for (const r of labelled) for (const h of r.hits.slice(0, depth)) labelSet.add(h.label ?? "(none)");
  const labels = [...labelSet].sort();
  const pos = new Map(labels.map((l, i) => [l, i] as const));
  const counts = labels.map(() => labels.map(() => 0));
  for (const r of labelled) for (const h of r.hits.slice(0, depth)) counts[pos.get(r.queryLabel!)!][pos.get(h.label ?? "(none)")!]++;

  return {
    mode,
    metric: rankings[0]?.metric ?? "",
    queries: labelled.length,
    unlabeled: rankings.length - labelled.length,
    k: [...ks],
    precisionAtK: all.precisionAtK,
    recallAtK: all.recallAtK,
    mAP: all.mAP,
    perClass,
    confusion: { k: depth, labels, counts },
  };
}

/** Short text summary: `P@5 0.678  R@5 0.271  mAP 0.783  (36 queries, cosine, leave-one-out)`. */
export function formatEvaluation(ev: Evaluation): string {
  const parts = ev.k.map((k) => `P@${k} ${fmt(ev.precisionAtK[k])}`);
  parts.push(`mAP ${fmt(ev.mAP)}`);
  return `${parts.join("  ")}  (${ev.queries} queries, ${ev.metric}, ${ev.mode})`;
}

/** One line per class: label, queries, P@k..., AP. */
export function formatPerClass(ev: Evaluation): string[] {
  const width = Math.max(5, ...Object.keys(ev.perClass).map((l) => l.length));
  const head = `${"class".padEnd(width)}  n    ${ev.k.map((k) => `P@${k}`.padEnd(6)).join(" ")} mAP`;
  return [
    head,
    ...Object.entries(ev.perClass).map(
      ([label, c]) => `${label.padEnd(width)}  ${String(c.queries).padEnd(4)} ${ev.k.map((k) => fmt(c.precisionAtK[k]).padEnd(6)).join(" ")} ${fmt(c.mAP)}`,
    ),
  ];
}

function fmt(x: number): string {
  return Number.isNaN(x) ? "n/a" : x.toFixed(3);
}
