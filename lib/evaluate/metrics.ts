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

/**
 * Average precision of one query over the full ranking that a score row implies, without sorting the row
 * or storing the ranking: the ranking is the one topK gives (better signed score first, ties by the lower
 * index, NaN last, `skip` left out), and each relevant item's position is 1 + the number of items ranked
 * above it. The relevant items are sorted (R log R); every other item is then placed among them with one
 * comparison against the worst relevant score, and a binary search only when it can beat one. Equal to
 * averagePrecision over the full ranking, to the last bit (the same sum in the same order).
 * One instance per database size reuses its buffers across queries.
 */
export class ScoreRowAveragePrecision {
  private readonly isRelevant: Uint8Array;
  private codes = new Float64Array(0);
  private relKey = new Float64Array(0);
  private relIdx = new Int32Array(0);
  private beats = new Int32Array(0);
  private table = new Int32Array(0);
  private readonly bits = new Float32Array(1);
  private readonly bitsU = new Uint32Array(this.bits.buffer);

  constructor(readonly n: number) {
    if (n >= INDEX_SPAN) throw new RangeError(`ScoreRowAveragePrecision handles fewer than ${INDEX_SPAN} rows (got ${n})`);
    this.isRelevant = new Uint8Array(n);
  }

  /**
   * A number that orders (signed score, index) pairs as the ranking does, larger = ranked earlier: the
   * score's float32 bits made monotone (NaN as -Infinity, -0 as 0), then the index reversed below them.
   */
  private code(key: number, index: number): number {
    this.bits[0] = key !== key ? -Infinity : key === 0 ? 0 : key;
    const u = this.bitsU[0];
    const ordered = u & 0x80000000 ? ~u >>> 0 : (u | 0x80000000) >>> 0;
    return ordered * INDEX_SPAN + (INDEX_SPAN - 1 - index);
  }

  /** AP of the query whose scores over the database are `scores`; `relevant` lists the relevant rows. */
  compute(scores: Float32Array, relevant: ArrayLike<number>, higherIsBetter: boolean, skip = -1): number {
    const n = this.n;
    if (scores.length !== n) throw new RangeError(`score row of ${scores.length} values for ${n} rows`);
    const sign = higherIsBetter ? 1 : -1;
    if (this.codes.length < relevant.length) {
      this.codes = new Float64Array(relevant.length);
      this.relKey = new Float64Array(relevant.length);
      this.relIdx = new Int32Array(relevant.length);
      this.beats = new Int32Array(relevant.length + 1);
    }
    const mark = this.isRelevant;
    let r = 0;
    for (let t = 0; t < relevant.length; t++) {
      const j = relevant[t];
      if (j === skip || mark[j]) continue;
      mark[j] = 1;
      this.codes[r++] = this.code(sign * scores[j], j);
    }
    if (r === 0) return NaN;
    const codes = this.codes.subarray(0, r);
    codes.sort(); // ascending: the worst-ranked relevant item first
    // the same order as plain keys and indices, for the scan below (equal keys: higher index first)
    const relKey = this.relKey;
    const relIdx = this.relIdx;
    for (let a = 0; a < r; a++) {
      const j = INDEX_SPAN - 1 - (codes[a] % INDEX_SPAN);
      const v = sign * scores[j];
      relIdx[a] = j;
      relKey[a] = v !== v ? -Infinity : v;
    }
    const beats = this.beats.subarray(0, r + 1).fill(0);
    const worst = relKey[0];
    const best = relKey[r - 1];
    // a table of where each of B equal slices of [worst, best] starts among the relevant keys, so that
    // the search below only spans one slice (a few entries) instead of all R: most rows are random enough
    // that a full binary search costs its log2(R) mispredicted branches per item
    const buckets = Math.max(16, 2 * r);
    const scale = buckets / (best - worst);
    const useTable = Number.isFinite(scale) && Number.isFinite(worst) && Number.isFinite(best);
    if (this.table.length < buckets + 1) this.table = new Int32Array(2 * buckets + 1);
    const table = this.table;
    if (useTable) {
      let a = 0;
      for (let b = 0; b <= buckets; b++) {
        const edge = worst + b / scale;
        while (a < r && relKey[a] < edge) a++;
        table[b] = a;
      }
    }
    for (let i = 0; i < n; i++) {
      let v = sign * scores[i];
      if (v !== v) v = -Infinity; // NaN ranks last
      if (v < worst || mark[i] || i === skip) continue; // below every relevant item: beats none
      // relevant items with a lower key, then those of an equal key and a higher index
      let lo = 0;
      let hi = r;
      if (v > best) lo = r;
      else if (useTable) {
        const b = Math.min(buckets - 1, Math.floor((v - worst) * scale));
        lo = table[b];
        hi = table[b + 1];
        while (lo > 0 && relKey[lo - 1] >= v) lo--; // rounding at a slice edge
        while (hi < r && relKey[hi] < v) hi++;
      }
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (relKey[mid] < v) lo = mid + 1;
        else hi = mid;
      }
      while (lo < r && relKey[lo] === v && relIdx[lo] > i) lo++;
      beats[lo]++;
    }
    for (let t = 0; t < relevant.length; t++) mark[relevant[t]] = 0;
    // relevant item at ascending position a is ranked below every other item counted at beats[a+1..r]
    let above = 0;
    let sum = 0;
    for (let m = 0; m < r; m++) {
      const a = r - 1 - m; // m-th best relevant item
      above += beats[a + 1];
      sum += (m + 1) / (m + 1 + above);
    }
    return sum / r;
  }
}

/** Rows are numbered below this in the ordering codes (2^21: 53 bits hold a float32 and an index). */
const INDEX_SPAN = 2 ** 21;
