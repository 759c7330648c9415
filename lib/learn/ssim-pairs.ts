/**
 * Colour SSIM between training images, for the learned similarity's target rule. Images are decoded once at a
 * small common size (default 48 x 48: SSIM measures structure at the scale of its 11-pixel window, and pairs are
 * many) and each pair is computed once (memoised, symmetric).
 */
import { invalidOption } from "../errors";
import { decodeImage } from "../prepare/decode";
import type { PixelImage } from "../rank/structural-similarity";
import { reporterOf, type Reporter } from "../report";
import type { ImageItem } from "../types";

/** RGB pixels of the items at size x size, in item order. */
export async function loadSsimImages(items: readonly ImageItem[], options: { size?: number; reporter?: Reporter } = {}): Promise<PixelImage[]> {
  const size = options.size ?? 48;
  if (!Number.isInteger(size) || size < 11) throw invalidOption("size", "integer >= 11 (the SSIM window)", size);
  const rep = reporterOf(options.reporter);
  const out: PixelImage[] = [];
  for (let i = 0; i < items.length; i += 16) {
    const batch = await Promise.all(items.slice(i, i + 16).map((it) => decodeImage(it.path, { size: [size, size], resize: "area" })));
    for (const img of batch) out.push({ data: img.data, width: img.width, height: img.height, channels: 3 });
    rep.progress("ssim-images", Math.min(items.length, i + 16), items.length);
  }
  return out;
}

/**
 * A memoised colour-SSIM function over image indices (what SimilarityOptions.ssim takes): the mean over R, G
 * and B of the SSIM of Wang et al. with an 11 x 11 Gaussian window (sigma 1.5), 'valid' filtering,
 * L = 255, K1 = 0.01, K2 = 0.03 -- the algorithm of ssim.js "original" and of scikit-image
 * (gaussian_weights=True, use_sample_covariance=False), which imageSsim(..., {colour: "colour"}) computes.
 * The local means and variances of every image are filtered once; a pair then costs one filtering of the
 * product image per channel, about 50x faster than calling ssim.js per pair.
 */
export function pairSsimFromImages(images: readonly PixelImage[]): (i: number, j: number) => number {
  if (!images.length) return () => NaN;
  const { width: w, height: h } = images[0];
  for (const img of images)
    if (img.width !== w || img.height !== h || img.channels !== 3) throw invalidOption("images", `RGB images of one size (${w}x${h}x3)`, `${img.width}x${img.height}x${img.channels}`);
  if (Math.min(w, h) < WINDOW) throw invalidOption("image size", `at least ${WINDOW} px on each side`, `${w}x${h}`);
  const planes = images.map((img) => [0, 1, 2].map((c) => Float64Array.from({ length: w * h }, (_, p) => img.data[p * 3 + c])));
  const mu = planes.map((ps) => ps.map((p) => gaussianValid(p, w, h)));
  const sq = planes.map((ps) => ps.map((p) => gaussianValid(p.map((v) => v * v), w, h)));
  const memo = new Map<number, number>();
  const n = images.length;
  const prod = new Float64Array(w * h);
  return (i, j) => {
    if (i === j) return 1;
    const key = Math.min(i, j) * n + Math.max(i, j);
    const cached = memo.get(key);
    if (cached !== undefined) return cached;
    let total = 0;
    for (let c = 0; c < 3; c++) {
      const a = planes[i][c];
      const b = planes[j][c];
      for (let p = 0; p < a.length; p++) prod[p] = a[p] * b[p];
      const ab = gaussianValid(prod, w, h);
      const ma = mu[i][c], mb = mu[j][c], sa = sq[i][c], sb = sq[j][c];
      let sum = 0;
      for (let p = 0; p < ab.length; p++) {
        const mx = ma[p], my = mb[p];
        const vx = sa[p] - mx * mx, vy = sb[p] - my * my, cxy = ab[p] - mx * my;
        sum += ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2));
      }
      total += sum / ab.length;
    }
    const v = total / 3;
    memo.set(key, v);
    return v;
  };
}

const WINDOW = 11;
const C1 = (0.01 * 255) ** 2;
const C2 = (0.03 * 255) ** 2;
const KERNEL = (() => {
  const k = Array.from({ length: WINDOW }, (_, t) => Math.exp(-((t - 5) ** 2) / (2 * 1.5 * 1.5)));
  const s = k.reduce((a, b) => a + b, 0);
  return Float64Array.from(k, (v) => v / s);
})();

/** Separable Gaussian filtering keeping only the positions where the window fits ('valid'). */
function gaussianValid(src: Float64Array, w: number, h: number): Float64Array {
  const ow = w - WINDOW + 1;
  const oh = h - WINDOW + 1;
  const tmp = new Float64Array(h * ow);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let t = 0; t < WINDOW; t++) s += KERNEL[t] * src[y * w + x + t];
      tmp[y * ow + x] = s;
    }
  const out = new Float64Array(oh * ow);
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let t = 0; t < WINDOW; t++) s += KERNEL[t] * tmp[(y + t) * ow + x];
      out[y * ow + x] = s;
    }
  return out;
}
