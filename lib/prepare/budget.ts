/**
 * Decode budgets: what one image may cost before it is decoded. Header and pixel checks are not enough:
 * a 1 MB progressive JPEG of 10000 x 10000 px with 2,647 valid scans takes 88 s and 680 MB (the decoder
 * walks every block once per scan, and sharp's timeout only fires after that), a 1 MB .svgz inflates to
 * 1 GB, and librsvg needs about 2.6 KB per SVG element and time quadratic in the length of a text run.
 * Each format is held by the cheapest check that holds for it:
 * - every format: the pixel limit (sharp's limitInputPixels) and a time limit (sharp's timeout, which stops
 *   pipelines that libvips evaluates region by region);
 * - JPEG: the header's size and sampling give the coefficient memory of a progressive decode, and the scans
 *   are counted (a cheap marker walk) against `maxJpegScans`;
 * - PNG: the 8-bit output, plus the whole frame at its bit depth when interlaced (a sequential PNG streams);
 *   WebP, GIF, TIFF, AVIF (sharp's header read) and BMP, PNM, HEIC (our readers' headers): the frame at its
 *   sample depth plus the 8-bit output, against `maxMemoryBytes`;
 * - SVG: inflated at most to `maxSvgBytes` (gzip is undone here, capped, before librsvg sees it), elements
 *   and text characters priced at what librsvg was measured to need, and the rendering itself done in a
 *   child process that is killed when it passes the time or memory budget (lib/prepare/decode-child.ts).
 * A refusal is an E_BAD_IMAGE naming the file, the budget and the option that raises it.
 */
import * as zlib from "node:zlib";
import { CbirError, invalidOption } from "../errors";

export interface DecodeLimits {
  /** Width x height above which an image is refused (decompression bombs). */
  maxPixels: number;
  /** Estimated memory one decode may need, in bytes. */
  maxMemoryBytes: number;
  /** Seconds one decode may take. */
  timeoutSeconds: number;
  /** Scans a progressive JPEG may have (libjpeg writes 10; a decoder revisits every block per scan). */
  maxJpegScans: number;
  /** Bytes of SVG text, after gzip is undone. */
  maxSvgBytes: number;
}

export const DEFAULT_DECODE_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  maxPixels: 100_000_000,
  maxMemoryBytes: 512 * 1024 * 1024,
  timeoutSeconds: 30,
  maxJpegScans: 200,
  maxSvgBytes: 32 * 1024 * 1024,
});

/** The command-line flag that changes each limit, named in refusals. */
export const DECODE_LIMIT_FLAGS: Readonly<Record<keyof DecodeLimits, string>> = Object.freeze({
  maxPixels: "--max-pixels",
  maxMemoryBytes: "--max-decode-mb",
  timeoutSeconds: "--decode-timeout",
  maxJpegScans: "--max-jpeg-scans",
  maxSvgBytes: "--max-svg-mb",
});

/** librsvg's memory per element and per text character, measured (100k to 900k empty groups: 2.6 KB each). */
const SVG_BYTES_PER_NODE = 2600;

let current: DecodeLimits = { ...DEFAULT_DECODE_LIMITS };

/** The limits every decode in this process uses unless a call passes its own. */
export function decodeLimits(): DecodeLimits {
  return { ...current };
}

/** Validates and sets the process's limits (the CLI's flags); returns the previous ones, to restore. */
export function setDecodeLimits(changes: Partial<DecodeLimits>): DecodeLimits {
  const before = current;
  current = resolveDecodeLimits(changes, before);
  return { ...before };
}

export function resolveDecodeLimits(changes: Partial<DecodeLimits>, base: DecodeLimits = current): DecodeLimits {
  const out = { ...base };
  for (const [key, value] of Object.entries(changes) as [keyof DecodeLimits, number | undefined][]) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_DECODE_LIMITS)) throw invalidOption("decode limit", Object.keys(DEFAULT_DECODE_LIMITS).join(" | "), key);
    const integer = key !== "timeoutSeconds";
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || (integer && !Number.isSafeInteger(value)))
      throw invalidOption(DECODE_LIMIT_FLAGS[key].slice(2), integer ? "positive integer" : "positive number of seconds", value);
    out[key] = value;
  }
  return out;
}

/** What the header says an image will cost, as far as this module can tell without decoding. */
export interface DecodeCost {
  format: "jpeg" | "png" | "svg" | "other";
  width?: number;
  height?: number;
  /** Estimated peak bytes of the decode. */
  memoryBytes?: number;
  /** Scans of a progressive JPEG (1 for baseline). */
  scans?: number;
}

function refuse(file: string, reason: string, limit: keyof DecodeLimits, fix?: string): CbirError {
  return new CbirError("E_BAD_IMAGE", `${file}: ${reason}.`, {
    file,
    fix: fix ?? `raise the limit with ${DECODE_LIMIT_FLAGS[limit]} if this image is wanted.`,
  });
}

const MB = 1024 * 1024;
const mb = (bytes: number) => `${Math.ceil(bytes / MB)} MB`;

/**
 * Checks `bytes` against the limits and returns what to hand the decoder: the same bytes, or an SVG's
 * inflated text. Throws E_BAD_IMAGE for an image over a budget. Costs a few microseconds for a baseline
 * JPEG or a PNG (a header read); a progressive JPEG adds one memchr-speed walk of its markers.
 */
export function admitImage(file: string, bytes: Buffer, limits: DecodeLimits = current): { input: Buffer; cost: DecodeCost } {
  let input = bytes;
  if (bytes.length >= 3 && bytes[0] === 0x1f && bytes[1] === 0x8b && bytes[2] === 8) input = inflateCapped(file, bytes, limits);
  const cost = estimateCost(input);
  if (cost.width !== undefined && cost.height !== undefined && cost.width * cost.height > limits.maxPixels)
    throw refuse(file, `image too large (${cost.width} x ${cost.height} px, over ${limits.maxPixels}: pixel limit exceeded; possible decompression bomb)`, "maxPixels");
  if (cost.scans !== undefined && cost.scans > limits.maxJpegScans)
    throw refuse(file, `progressive JPEG with ${cost.scans} scans (limit ${limits.maxJpegScans}; each scan decodes the whole image again)`, "maxJpegScans");
  if (cost.format === "svg" && input.length > limits.maxSvgBytes)
    throw refuse(file, `SVG of ${mb(input.length)} (limit ${mb(limits.maxSvgBytes)})`, "maxSvgBytes");
  if (cost.memoryBytes !== undefined && cost.memoryBytes > limits.maxMemoryBytes)
    throw refuse(file, `decoding would need about ${mb(cost.memoryBytes)} (limit ${mb(limits.maxMemoryBytes)})`, "maxMemoryBytes");
  return { input, cost };
}

/**
 * For the formats this module does not parse (WebP, GIF, TIFF, AVIF...): the frame libvips reads, at its
 * sample depth, plus the 8-bit RGBA copy, from sharp's header read. Throws like admitImage.
 */
export function checkFrameMemory(file: string, meta: { width?: number; height?: number; channels?: number; depth?: string }, limits: DecodeLimits = current): void {
  if (!meta.width || !meta.height) return;
  const bytesPerSample = { ushort: 2, short: 2, uint: 4, int: 4, float: 4, complex: 8, double: 8, dpcomplex: 16 }[meta.depth ?? ""] ?? 1;
  const pixels = meta.width * meta.height;
  const need = pixels * (meta.channels ?? 4) * bytesPerSample + pixels * 4;
  if (need > limits.maxMemoryBytes)
    throw refuse(file, `decoding would need about ${mb(need)} (limit ${mb(limits.maxMemoryBytes)})`, "maxMemoryBytes");
}

/** gzip undone here, at most to maxSvgBytes, so a thousandfold .svgz never reaches librsvg's own inflater. */
function inflateCapped(file: string, bytes: Buffer, limits: DecodeLimits): Buffer {
  try {
    return zlib.gunzipSync(bytes, { maxOutputLength: limits.maxSvgBytes });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError)
      throw refuse(file, `compressed file that inflates past ${mb(limits.maxSvgBytes)} (possible decompression bomb)`, "maxSvgBytes");
    throw new CbirError("E_BAD_IMAGE", `${file}: corrupt gzip data (${(e as Error).message}).`, { file, fix: "remove or replace the file; it is skipped meanwhile." });
  }
}

export function estimateCost(b: Buffer): DecodeCost {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return jpegCost(b);
  if (b.length >= 33 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(12) === 0x49484452) return pngCost(b);
  if (looksLikeSvg(b)) return svgCost(b);
  return { format: "other" };
}

/**
 * PNG's IHDR. A sequential PNG streams row by row, so only the 8-bit RGBA output can be whole in memory;
 * an interlaced (Adam7) one is held entire at its bit depth before that.
 */
function pngCost(b: Buffer): DecodeCost {
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  const depth = b[24];
  const channels = [1, 0, 3, 1, 2, 0, 4][b[25]] || 4;
  const interlaced = b[28] === 1;
  const pixels = width * height;
  return { format: "png", width, height, memoryBytes: (interlaced ? pixels * channels * Math.max(1, depth / 8) : 0) + pixels * 4 };
}

/**
 * A JPEG's frame header and, for a progressive one, its scans. A progressive decode holds every DCT
 * coefficient (2 bytes each, per component at its sampling) besides the output; a baseline one streams.
 */
function jpegCost(b: Buffer): DecodeCost {
  let i = 2;
  let progressive = false;
  let width: number | undefined;
  let height: number | undefined;
  let coefficientBytes = 0;
  let channels = 3;
  let scans = 0;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) {
      // inside entropy-coded data: the next marker is an 0xFF not followed by 0x00 (stuffing), 0xFF (fill) or RSTn
      const next = b.indexOf(0xff, i);
      if (next < 0) break;
      i = next;
      continue;
    }
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0x00 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2;
      continue;
    }
    if (marker === 0xd9) break;
    const length = b.readUInt16BE(i + 2);
    if (isStartOfFrame(marker) && i + 10 <= b.length) {
      progressive = marker === 0xc2 || marker === 0xc6 || marker === 0xca || marker === 0xce;
      height = b.readUInt16BE(i + 5);
      width = b.readUInt16BE(i + 7);
      channels = b[i + 9];
      let hMax = 1;
      let vMax = 1;
      const factors: [number, number][] = [];
      for (let c = 0; c < channels && i + 12 + 3 * c < b.length; c++) {
        const hv = b[i + 11 + 3 * c];
        factors.push([hv >> 4 || 1, hv & 15 || 1]);
        hMax = Math.max(hMax, hv >> 4);
        vMax = Math.max(vMax, hv & 15);
      }
      for (const [h, v] of factors) coefficientBytes += Math.ceil(Math.ceil((width * h) / hMax) / 8) * Math.ceil(Math.ceil((height * v) / vMax) / 8) * 64 * 2;
    }
    if (marker === 0xda) {
      scans++;
      if (!progressive) break; // a baseline file's scans are one per component at most: nothing more to learn
    }
    i += 2 + length;
  }
  if (width === undefined || height === undefined || height === 0) return { format: "jpeg", scans: progressive ? scans : undefined };
  const output = width * height * Math.max(3, channels);
  return { format: "jpeg", width, height, scans: progressive ? scans : 1, memoryBytes: progressive ? coefficientBytes + output : output };
}

function isStartOfFrame(m: number): boolean {
  return m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
}

/** An XML document whose first element is <svg> (after an optional BOM, declaration, comments, doctype). */
export function looksLikeSvg(b: Buffer): boolean {
  const head = b.subarray(0, 4096).toString("latin1");
  return /^(\xef\xbb\xbf)?\s*(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*|<!DOCTYPE[^>]*>\s*)*<svg[\s>]/i.test(head);
}

/**
 * librsvg's cost: every element and every character of text becomes a node of about 2.6 KB (measured), on
 * top of the text itself. Counting '<' and the non-blank bytes between tags is a fast overestimate.
 */
function svgCost(b: Buffer): DecodeCost {
  let elements = 0;
  let textBytes = 0;
  let inTag = false;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === 0x3c) {
      inTag = true;
      elements++;
    } else if (c === 0x3e) inTag = false;
    else if (!inTag && c > 0x20) textBytes++;
  }
  return { format: "svg", memoryBytes: b.length + (elements + textBytes) * SVG_BYTES_PER_NODE };
}
