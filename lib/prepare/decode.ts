/**
 * Decode one image to RGB uint8 at the network's input size. Alpha is flattened onto white, grey is
 * expanded to three channels, CMYK and 16-bit inputs are converted, EXIF orientation is applied, and only
 * the first frame of an animation is used. Every decode of a user's file (features, histograms, figures)
 * goes through decodeByPlan: the file is admitted against the decode budgets (budget.ts), BMP, Netpbm and
 * HEIC are read by formats/, SVG is rendered in the watched child process (decode-child.ts), and one sharp
 * plan (sharp-plan.ts) does the rest. Anything that cannot be decoded, or is over a budget, is a
 * CbirError("E_BAD_IMAGE") naming the file, which callers turn into a skipped entry.
 */
import * as fs from "node:fs";
import sharp from "sharp";
import { CbirError, expectOneOf, invalidOption } from "../errors";
import { fsPath } from "./names";
import { admitImage, checkFrameMemory, decodeLimits, DEFAULT_DECODE_LIMITS, resolveDecodeLimits, type DecodeLimits } from "./budget";
import { decodeInChild } from "./decode-child";
import { openImageInput, UndecodableImage } from "./formats/index";
import { describeSharpError, runSharpPlan, type RawPixels, type SharpPlan } from "./sharp-plan";

export { describeSharpError, runSharpPlan, type RawPixels, type SharpPlan };

/** How an image is brought to the network's input size (each backbone declares the one it was trained with). */
export const RESIZE_MODES = ["nearest", "bilinear", "area"] as const;
export type ResizeMode = (typeof RESIZE_MODES)[number];

/** Images with more pixels than this are refused before decoding (decompression bombs). */
export const DEFAULT_MAX_PIXELS = DEFAULT_DECODE_LIMITS.maxPixels;
/** Files larger than this are refused without being read. */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

export interface DecodeOptions {
  /** Output [height, width]. */
  size: [number, number];
  /** Default "bilinear". */
  resize?: ResizeMode;
  /** Default: the process's decode limits (lib/prepare/budget.ts). */
  maxPixels?: number;
  /** Other limits for this call only; the rest are the process's. */
  limits?: Partial<DecodeLimits>;
}

export interface DecodedImage {
  /** RGB, row-major, height * width * 3 bytes. */
  data: Uint8Array;
  width: number;
  height: number;
}

sharp.cache(false); // decoding thousands of distinct files: the cache only holds memory

/** Reads a file only when it is a regular file, so a named pipe cannot block the run. */
export async function readImageFile(file: string, maxBytes = DEFAULT_MAX_BYTES): Promise<Buffer> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(fsPath(file));
  } catch (e) {
    throw bad(file, `cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, "check that the file exists.");
  }
  if (!st.isFile()) throw bad(file, "not a regular file (pipe, socket or device)", "remove it from the database folder.");
  if (st.size === 0) throw bad(file, "empty file (0 bytes)", "remove it or replace it with a valid image.");
  if (st.size > maxBytes) throw bad(file, `file too large (${st.size} bytes)`, "shrink it below 256 MB.");
  return fs.promises.readFile(fsPath(file));
}

function bad(file: string, reason: string, fix: string): CbirError {
  return new CbirError("E_BAD_IMAGE", `${file}: ${reason}.`, { file, fix });
}

/**
 * Reads, admits (lib/prepare/budget.ts) and decodes one file by `plan`. SVG is rendered in the decode
 * child process, which is killed when it passes the time or memory budget; everything else here.
 */
export async function decodeByPlan(file: string, resize: SharpPlan["resize"], overrides: Partial<DecodeLimits> = {}): Promise<RawPixels> {
  const limits = resolveDecodeLimits(overrides, decodeLimits());
  const bytes = await readImageFile(file);
  const { input, cost } = admitImage(file, bytes, limits);
  const plan: SharpPlan = { maxPixels: limits.maxPixels, timeoutSeconds: limits.timeoutSeconds, resize };
  try {
    if (cost.format === "svg") return await decodeInChild(file, input, plan, limits);
    const opened = await openImageInput(input, limits.maxPixels); // BMP, Netpbm, HEIC: decoded to pixels here
    if (opened.raw) {
      const { width, height, channels } = opened.raw;
      checkFrameMemory(file, { width, height, channels }, limits);
    } else if (cost.format === "other") checkFrameMemory(file, await sharp(input, { limitInputPixels: limits.maxPixels }).metadata(), limits);
    return await runSharpPlan(sharp, opened.input, plan, opened.raw);
  } catch (e) {
    if (e instanceof CbirError) throw e;
    if (e instanceof UndecodableImage) throw bad(file, e.message, "remove or replace the file; it is skipped meanwhile."); // already one reason
    throw bad(file, describeSharpError(e), "remove or replace the file; it is skipped meanwhile.");
  }
}

export async function decodeImage(file: string, options: DecodeOptions): Promise<DecodedImage> {
  const [h, w] = options.size;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) throw invalidOption("size", "[height, width] of positive integers", options.size);
  const resize = expectOneOf("resize", options.resize ?? "bilinear", RESIZE_MODES);
  const overrides = { ...options.limits, ...(options.maxPixels !== undefined ? { maxPixels: options.maxPixels } : {}) };
  if (resize === "area") {
    const full = await decodeByPlan(file, undefined, overrides);
    return { data: areaResize(new Uint8Array(full.data), full.width, full.height, w, h), width: w, height: h };
  }
  const { data } = await decodeByPlan(file, { width: w, height: h, fit: "fill", kernel: resize === "nearest" ? "nearest" : "linear", withoutEnlargement: false }, overrides);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: w, height: h };
}

/** Upright RGB at its own size, at most `maxSide` on the longer side (for thumbnails and SSIM). */
export async function decodeThumbnail(file: string, maxSide: number, maxPixels?: number): Promise<DecodedImage> {
  const { data, width, height } = await decodeByPlan(file, { width: maxSide, height: maxSide, fit: "inside", withoutEnlargement: true }, maxPixels !== undefined ? { maxPixels } : {});
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
}

/**
 * Antialiased area resampling (as OpenCV's INTER_AREA and PIL's BOX filter): each output pixel is the
 * average of the input pixels it covers, weighted by the covered fraction.
 */
export function areaResize(src: Uint8Array, sw: number, sh: number, dw: number, dh: number): Uint8Array {
  const out = new Uint8Array(dw * dh * 3);
  const sx = sw / dw;
  const sy = sh / dh;
  const acc = new Float64Array(dw * 3);
  for (let oy = 0; oy < dh; oy++) {
    acc.fill(0);
    const y0 = oy * sy;
    const y1 = y0 + sy;
    for (let iy = Math.floor(y0); iy < Math.min(sh, Math.ceil(y1)); iy++) {
      const wy = Math.min(y1, iy + 1) - Math.max(y0, iy);
      if (wy <= 0) continue;
      const rowOff = iy * sw * 3;
      for (let ox = 0; ox < dw; ox++) {
        const x0 = ox * sx;
        const x1 = x0 + sx;
        let r = 0, g = 0, b = 0;
        for (let ix = Math.floor(x0); ix < Math.min(sw, Math.ceil(x1)); ix++) {
          const wx = Math.min(x1, ix + 1) - Math.max(x0, ix);
          if (wx <= 0) continue;
          const p = rowOff + ix * 3;
          r += src[p] * wx;
          g += src[p + 1] * wx;
          b += src[p + 2] * wx;
        }
        acc[ox * 3] += r * wy;
        acc[ox * 3 + 1] += g * wy;
        acc[ox * 3 + 2] += b * wy;
      }
    }
    const norm = 1 / (sx * sy);
    for (let i = 0; i < dw * 3; i++) out[oy * dw * 3 + i] = Math.min(255, Math.max(0, Math.round(acc[i] * norm)));
  }
  return out;
}
