/**
 * Retrieval quality from rankings, whatever produced them. A hit is relevant when its label equals the
 * query's label. P@k divides by k (a list shorter than k counts the missing places as misses).
 * Average precision is taken over the ranking given, normalised by the number of relevant items in the
 * database when it is known (`totalRelevant`), else by the relevant items in the list, which equals the
 * textbook value when the list is the full ranking.
 */
import type { Ranking } from "../types";

function relevantFlags(r: Ranking): boolean[] {
  return r.hits.map((h) => r.queryLabel !== undefined && h.label !== undefined && h.label === r.queryLabel);
}

export function precisionAtK(r: Ranking, k: number): number {
  if (!(k >= 1)) return NaN;
  const flags = relevantFlags(r);
  let n = 0;
  for (let i = 0; i < Math.min(k, flags.length); i++) if (flags[i]) n++;
  return n / k;
}

/** Recall@k: relevant items in the top k over all relevant items (NaN when there are none). */
export function recallAtK(r: Ranking, k: number, totalRelevant?: number): number {
  const flags = relevantFlags(r);
  const total = totalRelevant ?? flags.filter(Boolean).length;
  if (total === 0) return NaN;
  let n = 0;
  for (let i = 0; i < Math.min(k, flags.length); i++) if (flags[i]) n++;
  return n / total;
}

/** AP = (1/R) Σ over relevant positions i (1-based) of P@i; NaN when R = 0. */
export function averagePrecision(r: Ranking, totalRelevant?: number): number {
  const flags = relevantFlags(r);
  const total = totalRelevant ?? flags.filter(Boolean).length;
  if (total === 0) return NaN;
  let found = 0;
  let sum = 0;
  flags.forEach((rel, i) => {
    if (rel) {
      found++;
      sum += found / (i + 1);
    }
  });
  return sum / total;
}

/** Mean of the queries' AP, over queries that have a label and at least one relevant item. */
export function meanAveragePrecision(rankings: Ranking[], totalRelevant?: (r: Ranking) => number | undefined): number {
  const aps = rankings.map((r) => averagePrecision(r, totalRelevant?.(r))).filter((x) => !Number.isNaN(x));
  return aps.length ? aps.reduce((a, b) => a + b, 0) / aps.length : NaN;
}
