/**
 * A weight-free baseline feature and fusion partner: the square-rooted (Hellinger) RGB colour histogram.
 * Square-rooting the bin frequencies makes the dot product of two such vectors the Bhattacharyya
 * coefficient, which weighs small bins fairly; the result already has unit L2 norm. PROBES.md: 8 bins per
 * channel gives P@5 0.678 on the steakhouse database (leave-one-out, cosine), the floor a CNN must beat.
 */
import { invalidOption } from "../errors";
import { makeFingerprint } from "../fingerprint";
import type { Reporter } from "../report";
import type { FeatureMatrix, ImageItem, SkippedFile } from "../types";
import { decodeThumbnail } from "../prepare/decode";
import { perImageFeatures } from "./per-image";

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
  const fingerprint = makeFingerprint({ backbone: `hist:rgb${bins}`, resize: `inside${maxSide}`, preprocessing: "sqrt-frequency", pooling: "none" });
  return perImageFeatures(items, "histogram", bins ** 3, fingerprint, async (item) => colorHistogram((await decodeThumbnail(item.path, maxSide)).data, bins), opts.reporter);
}
