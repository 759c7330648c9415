/**
 * Weight-free features computed image by image (colour histograms, raw pixels, dHash): one loop that
 * skips and reports unreadable images, so every such feature treats bad files the same way.
 */
import { isCbirError } from "../errors";
import type { Fingerprint } from "../fingerprint";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix, ImageItem, SkippedFile } from "../types";

export async function perImageFeatures(
  items: ImageItem[],
  stage: string,
  dim: number,
  fingerprint: Fingerprint,
  compute: (item: ImageItem) => Promise<ArrayLike<number>>,
  reporter?: Reporter,
): Promise<{ features: FeatureMatrix; skipped: SkippedFile[] }> {
  const rep = reporterOf(reporter);
  const ids: string[] = [];
  const rows: ArrayLike<number>[] = [];
  const skipped: SkippedFile[] = [];
  for (let i = 0; i < items.length; i++) {
    try {
      rows.push(await compute(items[i]));
      ids.push(items[i].name);
    } catch (e) {
      if (!isCbirError(e)) throw e;
      skipped.push({ path: items[i].path, reason: e.message });
      rep.warn(`skipped: ${e.message}`, items[i].path);
    }
    rep.progress(stage, i + 1, items.length, items[i].name);
  }
  const data = new Float32Array(ids.length * dim);
  rows.forEach((r, i) => data.set(r, i * dim));
  return { features: { ids, dim, data, fingerprint }, skipped };
}
