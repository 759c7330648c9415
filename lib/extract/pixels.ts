/**
 * Pixels for the image-SSIM paths: every image decoded at one size (SSIM compares images pixel by pixel,
 * so sizes must match), as a matrix of byte rows for exactSearch(metric "ssim-image") or as a loader for
 * rerankWithSsim.
 */
import { invalidOption } from "../errors";
import { makeFingerprint } from "../fingerprint";
import { decodeImage } from "../prepare/decode";
import type { Reporter } from "../report";
import type { FeatureMatrix, ImageItem, SkippedFile } from "../types";
import { rgbToGrey } from "./dhash";
import { perImageFeatures } from "./per-image";

/** An image as pixel bytes: 1 (grey), 3 (RGB) or 4 (RGBA) interleaved channels. */
export interface PixelImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

export interface PixelOptions {
  /** [height, width] every image is resized to (default [128, 128]). */
  size?: [number, number];
  /** Keep RGB (default false: one grey channel, a third of the memory and work). */
  colour?: boolean;
}

export async function loadPixels(file: string, opts: PixelOptions = {}): Promise<PixelImage> {
  const [h, w] = opts.size ?? [128, 128];
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 11 || w < 11) throw invalidOption("size", "[height, width], each at least 11 (the SSIM window)", opts.size);
  const img = await decodeImage(file, { size: [h, w], resize: "area" });
  if (opts.colour) return { data: img.data, width: w, height: h, channels: 3 };
  return { data: Uint8Array.from(rgbToGrey(img.data), (v) => Math.round(v)), width: w, height: h, channels: 1 };
}

/** Pixel bytes of every image as rows, for exactSearch(m, "loo", {metric: "ssim-image", image: shape}). */
export async function pixelMatrix(
  items: ImageItem[],
  opts: PixelOptions & { reporter?: Reporter } = {},
): Promise<{ features: FeatureMatrix; image: { width: number; height: number; channels: 1 | 3 }; skipped: SkippedFile[] }> {
  const [h, w] = opts.size ?? [128, 128];
  const channels: 1 | 3 = opts.colour ? 3 : 1;
  const dim = h * w * channels;
  const fingerprint = makeFingerprint({ backbone: `pixels:${channels === 1 ? "grey" : "rgb"}`, inputSize: [h, w], resize: "area" });
  const { features, skipped } = await perImageFeatures(items, "pixels", dim, fingerprint, async (item) => (await loadPixels(item.path, opts)).data, opts.reporter);
  return { features, image: { width: w, height: h, channels }, skipped };
}
