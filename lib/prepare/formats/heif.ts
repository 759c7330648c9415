/**
 * HEIF containers: HEIC (HEVC-coded, as phones write them) and AVIF (AV1-coded). sharp's prebuilt libvips
 * decodes AV1 but not HEVC (sharp.format.heif lists only ".avif": its libheif has no libde265), so HEVC
 * images are decoded by libheif-js 1.23.2, libheif compiled to WebAssembly with libde265, which needs no
 * download at run time. It is loaded only when the first HEVC image is met: about 60 ms and 25 MB.
 * libheif-js's own wrappers (its HeifDecoder, and heic-decode 2.1.0 built on it) print errors on
 * stdout and decode the first top-level image rather than the primary one, so its C API is called
 * directly: the primary image, its size read from the header (ispe) and checked against the pixel limit
 * before anything is decoded, then RGB (RGBA with alpha) with the file's rotation and mirroring applied.
 */
import sharp from "sharp";
import { checkPixelLimit, UndecodableImage, type RawImage } from "./raster";

const HEVC_BRANDS = new Set(["heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs"]);
const AV1_BRANDS = new Set(["avif", "avis"]);
const GENERIC_BRANDS = new Set(["mif1", "msf1", "mif2", "miaf"]);

/** "hevc", "av1", "heif" (a generic brand: the codec is in the items) or null, from the ftyp box. */
export function heifBrand(bytes: Uint8Array): "hevc" | "av1" | "heif" | null {
  if (bytes.length < 16 || bytes[4] !== 0x66 || bytes[5] !== 0x74 || bytes[6] !== 0x79 || bytes[7] !== 0x70) return null; // "ftyp"
  const size = Math.min(bytes.length, ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0);
  const brands = [String.fromCharCode(...bytes.subarray(8, 12))];
  for (let p = 16; p + 4 <= size; p += 4) brands.push(String.fromCharCode(...bytes.subarray(p, p + 4)));
  if (brands.some((b) => AV1_BRANDS.has(b))) return "av1";
  if (brands.some((b) => HEVC_BRANDS.has(b))) return "hevc";
  if (brands.some((b) => GENERIC_BRANDS.has(b))) return "heif";
  return null;
}

/** Whether this sharp decodes HEVC itself (a libvips built with libde265 lists ".heic"). */
export const SHARP_DECODES_HEVC = (sharp.format.heif?.input as { fileSuffix?: string[] } | undefined)?.fileSuffix?.includes(".heic") ?? false;

/** The codec of a HEIF file whose brands do not say it, from sharp's header parse (no pixels decoded). */
export async function heifCodec(bytes: Buffer): Promise<string | undefined> {
  return (await sharp(bytes).metadata().catch(() => undefined))?.compression;
}

// the part of libheif-js's embind API used here
interface HeifError {
  code: { value: number };
  message: string;
}
interface LibHeif {
  ready?: Promise<unknown>;
  heif_colorspace: { heif_colorspace_RGB: unknown };
  heif_chroma: { heif_chroma_interleaved_RGB: unknown; heif_chroma_interleaved_RGBA: unknown };
  heif_context_alloc(): unknown;
  heif_context_free(ctx: unknown): void;
  heif_context_read_from_memory(ctx: unknown, data: Uint8Array): HeifError;
  heif_js_context_get_primary_image_handle(ctx: unknown): unknown;
  heif_image_handle_get_width(handle: unknown): number;
  heif_image_handle_get_height(handle: unknown): number;
  heif_image_handle_has_alpha_channel(handle: unknown): number;
  heif_image_handle_release(handle: unknown): void;
  heif_js_decode_image2(handle: unknown, colorspace: unknown, chroma: unknown): unknown;
  heif_image_release(image: unknown): void;
}
interface DecodedPlanes {
  image: unknown;
  channels: { width: number; height: number; stride: number; data: Uint8Array }[];
}

let libheif: LibHeif | undefined;

function loadLibheif(): LibHeif {
  // the bundle embeds its WebAssembly, so it loads offline; required lazily, only for HEVC images
  libheif ??= require("libheif-js/wasm-bundle") as LibHeif;
  return libheif;
}

const isError = (v: unknown): v is HeifError => typeof v === "object" && v !== null && "code" in v && "message" in v && typeof (v as HeifError).message === "string";

/** Decodes the primary image of a HEIF file with libheif-js. Throws UndecodableImage with the reason. */
export async function decodeHeif(bytes: Buffer, maxPixels: number): Promise<RawImage> {
  const lib = loadLibheif();
  await lib.ready;
  const ctx = lib.heif_context_alloc();
  let handle: unknown;
  try {
    const read = lib.heif_context_read_from_memory(ctx, bytes);
    if (read.code.value !== 0) throw new UndecodableImage(`corrupt or truncated HEIF (${read.message})`);
    const primary = lib.heif_js_context_get_primary_image_handle(ctx);
    if (isError(primary)) throw new UndecodableImage(`corrupt or truncated HEIF (${primary.message})`);
    handle = primary;
    const width = lib.heif_image_handle_get_width(handle);
    const height = lib.heif_image_handle_get_height(handle);
    if (!(width > 0 && height > 0)) throw new UndecodableImage("corrupt HEIF (no image size)");
    checkPixelLimit(width, height, maxPixels);
    const alpha = lib.heif_image_handle_has_alpha_channel(handle) !== 0;
    const channels = alpha ? 4 : 3;
    const chroma = alpha ? lib.heif_chroma.heif_chroma_interleaved_RGBA : lib.heif_chroma.heif_chroma_interleaved_RGB;
    const decoded = (await lib.heif_js_decode_image2(handle, lib.heif_colorspace.heif_colorspace_RGB, chroma)) as DecodedPlanes | HeifError | undefined;
    if (!decoded || isError(decoded) || !Array.isArray((decoded as DecodedPlanes).channels)) {
      const why = decoded && isError(decoded) ? decoded.message : "no pixels";
      throw new UndecodableImage(`corrupt or truncated HEIF (${why})`);
    }
    try {
      const plane = decoded.channels[0];
      if (!plane || plane.width !== width || plane.height !== height || plane.stride < width * channels) throw new UndecodableImage("corrupt HEIF (decoded size differs from its header)");
      // copied out of the WebAssembly heap, row by row when rows are padded
      const out = Buffer.alloc(width * height * channels);
      const row = width * channels;
      for (let y = 0; y < height; y++) out.set(plane.data.subarray(y * plane.stride, y * plane.stride + row), y * row);
      return { data: out, width, height, channels };
    } finally {
      lib.heif_image_release(decoded.image);
    }
  } finally {
    if (handle !== undefined) lib.heif_image_handle_release(handle);
    lib.heif_context_free(ctx);
  }
}
