/**
 * A weight-free baseline feature and fusion partner: the square-rooted (Hellinger) RGB colour histogram.
 * Square-rooting the bin frequencies makes the dot product of two such vectors the Bhattacharyya
 * coefficient, which weighs small bins fairly; the result already has unit L2 norm. PROBES.md: 8 bins per
 * channel gives P@5 0.678 on the steakhouse database (leave-one-out, cosine), the floor a CNN must beat.
 */
import { invalidOption } from "../errors";
import { makeFingerprint } from "../fingerprint";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix, ImageItem, SkippedFile } from "../types";
import { decodeThumbnail } from "../prepare/decode";
import { isCbirError } from "../errors";

/** `rgb` is interleaved RGB bytes; returns bins^3 values, L2-normalised. */
export function colorHistogram(rgb: Uint8Array, bins = 8): Float32Array {
  if (!Number.isInteger(bins) || bins < 1 || bins > 64) throw invalidOption("bins", "integer between 1 and 64", bins);
  if (rgb.length % 3 !== 0) throw invalidOption("rgb.length", "a multiple of 3 (interleaved RGB)", rgb.length);
  const counts = new Float64Array(bins * bins * bins);
  const pixels = rgb.length / 3;
  for (let p = 0; p < rgb.length; p += 3) {
    const r = (rgb[p] * bins) >> 8;
    const g = (rgb[p + 1] * bins) >> 8;
    const b = (rgb[p + 2] * bins) >> 8;
    counts[(r * bins + g) * bins + b]++;
  }
  const out = new Float32Array(counts.length);
  if (pixels === 0) return out;
  // sqrt of frequencies: sum of squares is 1, so the vector is already unit-length
  for (let i = 0; i < counts.length; i++) out[i] = Math.sqrt(counts[i] / pixels);
  return out;
}

export interface HistogramFeatureOptions {
  bins?: number;
  /** Images are shrunk to at most this many pixels on the longer side first (default 256): faster, same histogram shape. */
  maxSide?: number;
  reporter?: Reporter;
}

/** Histograms of a list of images; unreadable images are skipped and reported, never fatal. */
export async function histogramFeatures(
  items: ImageItem[],
  opts: HistogramFeatureOptions = {},
): Promise<{ features: FeatureMatrix; skipped: SkippedFile[] }> {
  const bins = opts.bins ?? 8;
  const maxSide = opts.maxSide ?? 256;
  const rep = reporterOf(opts.reporter);
  const dim = bins ** 3;
  const ids: string[] = [];
  const rows: Float32Array[] = [];
  const skipped: SkippedFile[] = [];
  for (let i = 0; i < items.length; i++) {
    try {
      const img = await decodeThumbnail(items[i].path, maxSide);
      rows.push(colorHistogram(img.data, bins));
      ids.push(items[i].name);
    } catch (e) {
      if (!isCbirError(e)) throw e;
      skipped.push({ path: items[i].path, reason: e.message });
      rep.warn(`skipped: ${e.message}`, items[i].path);
    }
    rep.progress("histogram", i + 1, items.length, items[i].name);
  }
  const data = new Float32Array(ids.length * dim);
  rows.forEach((r, i) => data.set(r, i * dim));
  const fingerprint = makeFingerprint({ backbone: `hist:rgb${bins}`, resize: `inside${maxSide}`, preprocessing: "sqrt-frequency", pooling: "none" });
  return { features: { ids, dim, data, fingerprint }, skipped };
}
