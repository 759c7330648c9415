/**
 * Concatenating feature blocks from several pipelines (layers, backbones, a colour histogram). Each block
 * is L2-normalised first and then scaled by its weight, so a block's share of a cosine similarity is set
 * by its weight and not by its dimension or value range. PROBES.md: CNN + square-rooted histogram at
 * weight 0.25 beat either alone.
 */
import { extendFingerprint } from "../fingerprint";
import { CbirError, invalidOption } from "../errors";
import type { FeatureMatrix } from "../types";
import { checkMatrix } from "./matrix";
import { l2normalize } from "./normalize";

export interface ConcatOptions {
  /** One weight per block (default all 1). */
  weights?: number[];
  /** L2-normalise each block before weighting (default true). */
  normalizeBlocks?: boolean;
}

/** Rows are matched by position when every block lists the same ids in the same order, else by id; the ids and their order come from the first block. */
export function concatFeatures(blocks: FeatureMatrix[], opts: ConcatOptions = {}): FeatureMatrix {
  if (!Array.isArray(blocks) || blocks.length === 0) throw invalidOption("blocks", "non-empty array of FeatureMatrix", blocks);
  blocks.forEach((b, i) => checkMatrix(b, `blocks[${i}]`));
  const weights = opts.weights ?? blocks.map(() => 1);
  if (weights.length !== blocks.length || weights.some((w) => !Number.isFinite(w) || w < 0))
    throw invalidOption("weights", `${blocks.length} non-negative numbers`, weights);
  const norm = opts.normalizeBlocks ?? true;
  const ids = blocks[0].ids;
  const dim = blocks.reduce((s, b) => s + b.dim, 0);
  const out = new Float32Array(ids.length * dim);
  let offset = 0;
  let firstChecked = false;
  blocks.forEach((raw, bi) => {
    const b = norm ? l2normalize(raw) : raw;
    // blocks computed on the same list line up row by row (duplicate ids included); others are joined by id
    const aligned = b.ids.length === ids.length && b.ids.every((id, i) => id === ids[i]);
    const where = aligned ? undefined : uniqueRows(b, bi);
    if (!aligned && !firstChecked) (uniqueRows(blocks[0], 0), (firstChecked = true));
    const w = weights[bi];
    for (let i = 0; i < ids.length; i++) {
      const r = where ? where.get(ids[i]) : i;
      if (r === undefined)
        throw new CbirError("E_BAD_OPTION", `feature block ${bi} has no vector for '${ids[i]}'.`, {
          fix: "compute every block on the same images before concatenating.",
        });
      for (let j = 0; j < b.dim; j++) out[i * dim + offset + j] = w * b.data[r * b.dim + j];
    }
    offset += b.dim;
  });
  const extra: Record<string, string | number | boolean> = { concatNormalized: norm };
  blocks.slice(1).forEach((b, i) => (extra[`concat${i + 1}`] = b.fingerprint.id));
  weights.forEach((w, i) => (extra[`concatWeight${i}`] = w));
  return { ids, dim, data: out, fingerprint: extendFingerprint(blocks[0].fingerprint, { extra }) };
}

/** Row of each id; ids that repeat cannot be joined (which of the rows would be meant?). */
function uniqueRows(b: FeatureMatrix, bi: number): Map<string, number> {
  const where = new Map<string, number>();
  b.ids.forEach((id, i) => {
    if (where.has(id))
      throw new CbirError("E_BAD_OPTION", `feature block ${bi} holds '${id}' twice, so its rows cannot be matched by id.`, {
        fix: "give every image a distinct id (its relative path), or compute the blocks on the same list in the same order.",
      });
    where.set(id, i);
  });
  return where;
}

/** CNN features fused with a (square-rooted) colour histogram: [l2(cnn), weight * l2(hist)]. */
export function fuseWithHistogram(cnn: FeatureMatrix, histogram: FeatureMatrix, opts: { weight?: number } = {}): FeatureMatrix {
  const weight = opts.weight ?? 0.25;
  if (!Number.isFinite(weight) || weight < 0) throw invalidOption("weight", "non-negative number", opts.weight);
  return concatFeatures([cnn, histogram], { weights: [1, weight] });
}
