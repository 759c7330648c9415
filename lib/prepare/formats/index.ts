/**
 * The one door through which a user's image file reaches sharp. The format is told from the first bytes
 * (magic numbers, not the extension): BMP ("BM" and a known header size), Netpbm ("P1".."P7") and
 * HEVC-coded HEIF are decoded here to raw 8-bit pixels, which sharp takes as `{ raw }` input, so rotation,
 * flattening, colour conversion and resizing stay one sharp pipeline for every format. Everything else
 * (JPEG, PNG, WebP, GIF, TIFF, SVG, AVIF) goes to sharp as the file's bytes. For those the sniff is a
 * few byte comparisons; the readers of this folder refuse an image over the pixel limit from its header
 * and throw UndecodableImage with a reason for truncated or corrupt data.
 */
import { decodeBmp, looksLikeBmp } from "./bmp";
import { decodeHeif, heifBrand, heifCodec, SHARP_DECODES_HEVC } from "./heif";
import { decodeNetpbm, looksLikeNetpbm } from "./netpbm";
import type { RawImage } from "./raster";

export { UndecodableImage, type RawImage } from "./raster";

/** sharp's constructor input: the file's own bytes, or decoded pixels with their shape. */
export interface ImageInput {
  input: Buffer;
  raw?: { width: number; height: number; channels: 1 | 2 | 3 | 4 };
}

/** What sharp should be given for this file's bytes (decoding BMP, Netpbm and HEIC on the way). */
export async function openImageInput(bytes: Buffer, maxPixels: number): Promise<ImageInput> {
  if (looksLikeBmp(bytes)) return rawInput(decodeBmp(bytes, maxPixels));
  if (looksLikeNetpbm(bytes)) return rawInput(decodeNetpbm(bytes, maxPixels));
  const brand = heifBrand(bytes);
  if (brand && !SHARP_DECODES_HEVC && (brand === "hevc" || (brand === "heif" && (await heifCodec(bytes)) !== "av1"))) return rawInput(await decodeHeif(bytes, maxPixels));
  return { input: bytes };
}

function rawInput(img: RawImage): ImageInput {
  return { input: img.data, raw: { width: img.width, height: img.height, channels: img.channels } };
}
