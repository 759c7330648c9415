/**
 * SSIM on images (through ssim.js) and SSIM re-ranking. Images are compared at one size, grey by default
 * ("colour" averages the SSIM of the R, G and B planes, as scikit-image does with channel_axis).
 * Parity with scikit-image (test/fixtures/ssim-reference.json, made by scripts/ssim-reference.py):
 *   ssim.js "original" and "fast" (11x11 Gaussian window, sigma 1.5, 'valid' filtering) equal skimage
 *   structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
 *   to 1e-13, grey and colour. ssim.js's own default "weber" and "bezkrovny" use other window schemes and
 *   differ by up to 0.12 and 0.05 on the fixture pairs. ssim.js's automatic downsampling (images whose
 *   smaller side exceeds 256 px) is off here: callers choose the comparison size themselves.
 */
import type { PixelImage } from "../extract/pixels";
import { ssim as ssimJs } from "ssim.js";
import { expectOneOf, invalidOption } from "../errors";
import { reporterOf, type Reporter } from "../report";
import type { Ranking } from "../types";

export const SSIM_VARIANTS = ["original", "fast", "weber", "bezkrovny"] as const;
export type SsimVariant = (typeof SSIM_VARIANTS)[number];
export const SSIM_COLOURS = ["grey", "colour"] as const;
export type SsimColour = (typeof SSIM_COLOURS)[number];

export interface SsimOptions {
  /** Default "original" (the Gaussian-window algorithm of Wang et al. that scikit-image also implements). */
  variant?: SsimVariant;
  /** Default "grey". */
  colour?: SsimColour;
  /** Window side, default 11. */
  windowSize?: number;
}

export type { PixelImage };

/** One plane as the RGBA ImageData that ssim.js expects (R = G = B, so its grey conversion is exact). */
function planeAsRgba(img: PixelImage, channel: number | "grey"): { data: Uint8ClampedArray; width: number; height: number } {
  const n = img.width * img.height;
  const out = new Uint8ClampedArray(n * 4);
  const c = img.channels;
  for (let p = 0; p < n; p++) {
    let v: number;
    if (channel !== "grey") v = img.data[p * c + channel];
    else if (c === 1) v = img.data[p];
    else v = Math.round(0.299 * img.data[p * c] + 0.587 * img.data[p * c + 1] + 0.114 * img.data[p * c + 2]); // ITU-R 601, as skimage rgb2gray up to rounding
    out[p * 4] = out[p * 4 + 1] = out[p * 4 + 2] = v;
    out[p * 4 + 3] = 255;
  }
  return { data: out, width: img.width, height: img.height };
}

function checkImage(img: PixelImage, name: string): void {
  if (!img || !Number.isInteger(img.width) || !Number.isInteger(img.height) || ![1, 3, 4].includes(img.channels))
    throw invalidOption(name, "{data, width, height, channels: 1 | 3 | 4}", img);
  if (img.data.length !== img.width * img.height * img.channels)
    throw invalidOption(`${name}.data.length`, `${img.width} x ${img.height} x ${img.channels}`, img.data.length);
}

/** Mean SSIM of two images of the same size, in [-1, 1] (1 = identical). */
export function imageSsim(a: PixelImage, b: PixelImage, opts: SsimOptions = {}): number {
  checkImage(a, "a");
  checkImage(b, "b");
  if (a.width !== b.width || a.height !== b.height)
    throw invalidOption("image size", `${a.width}x${a.height} for both images (resize them to one size first)`, `${b.width}x${b.height}`);
  const variant = expectOneOf("ssim variant", opts.variant ?? "original", SSIM_VARIANTS);
  const colour = expectOneOf("ssim colour", opts.colour ?? "grey", SSIM_COLOURS);
  const windowSize = opts.windowSize ?? 11;
  if (!Number.isInteger(windowSize) || windowSize < 2) throw invalidOption("windowSize", "integer >= 2", opts.windowSize);
  if (Math.min(a.width, a.height) < windowSize)
    throw invalidOption("image size", `at least ${windowSize} px on each side (the SSIM window)`, `${a.width}x${a.height}`);
  const planes: (number | "grey")[] = colour === "grey" || a.channels === 1 ? ["grey"] : [0, 1, 2];
  let sum = 0;
  for (const p of planes) {
    const r = ssimJs(planeAsRgba(a, p), planeAsRgba(b, p), { ssim: variant, windowSize, downsample: false, rgb2grayVersion: "integer" });
    sum += r.mssim;
  }
  return sum / planes.length;
}

export interface SsimRerankOptions extends SsimOptions {
  /** How many of the top candidates to re-rank (default 20); the rest keep their order after them. */
  topN?: number;
  reporter?: Reporter;
}

/**
 * Re-ranks the first `topN` hits of each ranking by image SSIM against the query. `load(id)` returns the
 * pixels of a database image or a query at one common size (decodeImage with a fixed size does that).
 */
export async function rerankWithSsim(
  rankings: Ranking[],
  load: (id: string) => Promise<PixelImage>,
  opts: SsimRerankOptions = {},
): Promise<Ranking[]> {
  const topN = opts.topN ?? 20;
  if (!Number.isInteger(topN) || topN < 1) throw invalidOption("topN", "positive integer", opts.topN);
  const rep = reporterOf(opts.reporter);
  const cache = new Map<string, Promise<PixelImage>>();
  const get = (id: string) => {
    let p = cache.get(id);
    if (!p) cache.set(id, (p = load(id)));
    return p;
  };
  const out: Ranking[] = [];
  for (let r = 0; r < rankings.length; r++) {
    const ranking = rankings[r];
    const q = await get(ranking.query);
    const head = ranking.hits.slice(0, topN);
    const scored = [];
    for (let i = 0; i < head.length; i++) scored.push({ hit: head[i], s: imageSsim(q, await get(head[i].id), opts), i });
    scored.sort((x, y) => y.s - x.s || x.i - y.i);
    out.push({
      ...ranking,
      hits: [...scored.map(({ hit, s }) => ({ ...hit, score: s })), ...ranking.hits.slice(topN)],
      metric: `${ranking.metric}+ssim-rerank${topN}`,
      higherIsBetter: true,
    });
    rep.progress("ssim-rerank", r + 1, rankings.length, ranking.query);
  }
  return out;
}
