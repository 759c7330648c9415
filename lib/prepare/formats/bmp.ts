/**
 * Windows and OS/2 bitmaps (BMP), read here rather than with an npm decoder: tried on the variants of
 * test/fixtures/formats.ts (1/2/4/8-bit palettes, 16-bit 555 and 565, 24-bit, 32-bit with and without
 * alpha and BI_BITFIELDS, RLE8/RLE4 with deltas, top-down rows, OS/2 core and 2.x headers, a V4 header
 * with a gap before the pixels), bmpimagejs 1.0.4 decoded 12 of 19 exactly (no 2-bit, no OS/2 core
 * palette, 5/6/10-bit fields not scaled to 255, RLE's skipped pixels white), decode-bmp 0.2.1 7, bmp-js
 * 0.1.0 6, bmp-ts 1.0.9 5 and fast-bmp 4.0.1 3 (these four misread or refuse RLE, and most ignore
 * bfOffBits or negative heights); none checks a header's size against a pixel limit before allocating.
 * Each fixture reads the same in Pillow 9.4, ImageMagick 6.9 or netpbm 11 (one at least: each lacks some
 * variant), within 1 where they scale 5/6/10-bit fields by truncating or copying bits instead of
 * rounding. The format is small enough to read exactly:
 * - headers of 12 bytes (OS/2 1.x core: 16-bit sizes, 3-byte palette entries), 16 to 64 bytes (OS/2 2.x,
 *   whose first fields are Windows'), 40, 52, 56, 108 and 124 bytes (Windows BITMAPINFOHEADER..V5);
 * - pixels start at bfOffBits, rows are padded to 4 bytes and stored bottom row first unless the height
 *   is negative;
 * - 16 and 32-bit samples are cut with the masks (defaults X1R5G5B5 and X8R8G8B8 for BI_RGB, whose unused
 *   bits are never alpha) and scaled exactly, round(v * 255 / max), as the Netpbm reader does;
 * - an alpha mask (V3 header and later, or BI_ALPHABITFIELDS) gives RGBA, unless every alpha is 0: then
 *   the writer filled the mask and not the channel, and the image is read as opaque (as browsers do);
 * - RLE pixels a delta or an early end of bitmap skips are palette index 0 (Pillow, ImageMagick), runs
 *   past a row's end are cut at it, and a palette index past the palette is black.
 * Embedded JPEG/PNG (compression 4/5) and OS/2 Huffman/RLE24 are refused with their name.
 */
import { checkPixelLimit, scaleTable, UndecodableImage, type RawImage } from "./raster";

const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

/** True for "BM" followed by a header size some BMP writer uses: the check before calling decodeBmp. */
export function looksLikeBmp(bytes: Uint8Array): boolean {
  if (bytes.length < 18 || bytes[0] !== 0x42 || bytes[1] !== 0x4d) return false;
  const size = bytes[14] | (bytes[15] << 8) | (bytes[16] << 16) | (bytes[17] << 24);
  return size === 12 || (size >= 16 && size <= 64) || size === 108 || size === 124;
}

interface Header {
  width: number;
  height: number;
  topDown: boolean;
  bpp: number;
  compression: number;
  /** r, g, b, a (a = 0: no alpha). */
  masks: [number, number, number, number];
  palette: Uint8Array;
  paletteCount: number;
  offBits: number;
}

const truncated = (what: string) => new UndecodableImage(`truncated BMP (${what})`);
const corrupt = (what: string) => new UndecodableImage(`corrupt BMP (${what})`);

function readHeader(b: Buffer, maxPixels: number): Header {
  if (b.length < 26) throw truncated(`${b.length}-byte file ends inside its header`);
  const offBits = b.readUInt32LE(10);
  const size = b.readUInt32LE(14);
  if (b.length < 14 + Math.min(size, 40)) throw truncated(`file ends inside its ${size}-byte header`);
  let width: number, height: number, bpp: number, compression = BI_RGB, clrUsed = 0;
  const os2 = size !== 40 && size !== 52 && size !== 56 && size < 108;
  if (size === 12) {
    width = b.readUInt16LE(18);
    height = b.readUInt16LE(20);
    bpp = b.readUInt16LE(24);
  } else {
    width = b.readInt32LE(18);
    height = b.readInt32LE(22);
    bpp = b.readUInt16LE(28);
    if (size >= 20) compression = b.readUInt32LE(30);
    if (size >= 36) clrUsed = b.readUInt32LE(46);
  }
  if (os2 && size !== 12 && (compression === 3 || compression === 4)) throw new UndecodableImage(`OS/2 BMP compression ${compression === 3 ? "Huffman 1D" : "RLE24"} is not supported`);
  if (compression === 4 || compression === 5) throw new UndecodableImage(`BMP compression ${compression} (embedded ${compression === 4 ? "JPEG" : "PNG"}) is not supported`);
  if (compression !== BI_RGB && compression !== BI_RLE8 && compression !== BI_RLE4 && compression !== BI_BITFIELDS && compression !== BI_ALPHABITFIELDS)
    throw new UndecodableImage(`BMP compression ${compression} is not supported`);
  const topDown = height < 0;
  height = Math.abs(height);
  if (width <= 0 || height <= 0) throw corrupt(`${width} x ${height} pixels`);
  if (![1, 2, 4, 8, 16, 24, 32].includes(bpp)) throw corrupt(`${bpp} bits per pixel`);
  if ((compression === BI_RLE8 && bpp !== 8) || (compression === BI_RLE4 && bpp !== 4)) throw corrupt(`RLE${compression === BI_RLE8 ? 8 : 4} with ${bpp} bits per pixel`);
  if ((compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) && bpp !== 16 && bpp !== 32) throw corrupt(`bit fields with ${bpp} bits per pixel`);
  checkPixelLimit(width, height, maxPixels);

  let masks: [number, number, number, number] = bpp === 16 ? [0x7c00, 0x03e0, 0x001f, 0] : [0xff0000, 0xff00, 0xff, 0];
  let tableStart = 14 + size;
  if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    // inside the header from the 52-byte one on (alpha from the 56-byte one on), else right after it
    const inHeader = size >= 52 && !os2;
    const count = inHeader ? (size >= 56 ? 4 : 3) : compression === BI_ALPHABITFIELDS ? 4 : 3;
    const at = inHeader ? 54 : tableStart;
    if (b.length < at + 4 * count) throw truncated("file ends inside its colour masks");
    masks = [b.readUInt32LE(at), b.readUInt32LE(at + 4), b.readUInt32LE(at + 8), count === 4 ? b.readUInt32LE(at + 12) : 0];
    if (!inHeader) tableStart += 4 * count;
  }

  let palette = new Uint8Array(0);
  let paletteCount = 0;
  if (bpp <= 8) {
    const entry = size === 12 ? 3 : 4;
    paletteCount = clrUsed > 0 && clrUsed < 1 << bpp ? clrUsed : 1 << bpp;
    // some writers store fewer colours than they declare; the pixels' offset says how many are there
    const room = Math.floor((offBits - tableStart) / entry);
    if (offBits >= tableStart && room < paletteCount) paletteCount = room;
    if (b.length < tableStart + paletteCount * entry) throw truncated(`file ends inside its ${paletteCount}-colour palette`);
    palette = new Uint8Array(paletteCount * 3);
    for (let i = 0; i < paletteCount; i++) {
      const p = tableStart + i * entry;
      palette[3 * i] = b[p + 2];
      palette[3 * i + 1] = b[p + 1];
      palette[3 * i + 2] = b[p];
    }
  }
  if (offBits < 14 + Math.min(size, 40) || offBits >= b.length) throw offBits >= b.length ? truncated(`pixel data at byte ${offBits} of a ${b.length}-byte file`) : corrupt(`pixel data offset ${offBits}`);
  return { width, height, topDown, bpp, compression, masks, palette, paletteCount, offBits };
}

/** Decodes a BMP to 8-bit RGB (RGBA when it has alpha). Throws UndecodableImage with the reason. */
export function decodeBmp(bytes: Buffer, maxPixels: number): RawImage {
  const h = readHeader(bytes, maxPixels);
  if (h.compression === BI_RLE8 || h.compression === BI_RLE4) return decodeRle(bytes, h);
  if (h.bpp <= 8) return decodeIndexed(bytes, h);
  return decodeDirect(bytes, h);
}

/** Byte offset of the stored row holding image row `y` (0 = top). */
function rowStart(h: Header, stride: number, y: number): number {
  return h.offBits + (h.topDown ? y : h.height - 1 - y) * stride;
}

/** Checks that every row is there (the last one may lack its padding) before any pixel is allocated. */
function checkRows(bytes: Buffer, h: Header, stride: number): void {
  const need = stride * (h.height - 1) + Math.ceil((h.width * h.bpp) / 8);
  const have = bytes.length - h.offBits;
  if (have < need) throw truncated(`${have} of ${need} bytes of pixels`);
}

function decodeIndexed(bytes: Buffer, h: Header): RawImage {
  const stride = Math.ceil((h.width * h.bpp) / 32) * 4;
  checkRows(bytes, h, stride);
  const out = Buffer.alloc(h.width * h.height * 3);
  const perByte = 8 / h.bpp;
  const mask = (1 << h.bpp) - 1;
  for (let y = 0; y < h.height; y++) {
    const row = rowStart(h, stride, y);
    let o = y * h.width * 3;
    for (let x = 0; x < h.width; x++, o += 3) {
      const byte = bytes[row + Math.floor(x / perByte)];
      const index = (byte >> (8 - h.bpp * ((x % perByte) + 1))) & mask;
      if (index < h.paletteCount) {
        out[o] = h.palette[3 * index];
        out[o + 1] = h.palette[3 * index + 1];
        out[o + 2] = h.palette[3 * index + 2];
      } // else black: the buffer is zeroed
    }
  }
  return { data: out, width: h.width, height: h.height, channels: 3 };
}

/** Shift and exact 8-bit scale of one mask (a mask of 0 reads as 0). */
function field(mask: number): (px: number) => number {
  if (mask === 0) return () => 0;
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  const max = mask >>> shift;
  if (max === 0xff) return (px) => ((px & mask) >>> shift) & 0xff;
  if (max <= 0xffff) {
    const table = scaleTable(max);
    return (px) => table[(px & mask) >>> shift];
  }
  return (px) => Math.round((((px & mask) >>> shift) * 255) / max);
}

function decodeDirect(bytes: Buffer, h: Header): RawImage {
  const stride = Math.ceil((h.width * h.bpp) / 32) * 4;
  checkRows(bytes, h, stride);
  const pixelBytes = h.bpp / 8;
  const hasAlpha = h.bpp !== 24 && h.masks[3] !== 0;
  const channels = hasAlpha ? 4 : 3;
  const out = Buffer.alloc(h.width * h.height * channels);
  const [r, g, b, a] = h.masks.map(field);
  let anyAlpha = false;
  for (let y = 0; y < h.height; y++) {
    const row = rowStart(h, stride, y);
    let o = y * h.width * channels;
    for (let x = 0; x < h.width; x++, o += channels) {
      const p = row + x * pixelBytes;
      if (h.bpp === 24) {
        out[o] = bytes[p + 2];
        out[o + 1] = bytes[p + 1];
        out[o + 2] = bytes[p];
        continue;
      }
      const px = h.bpp === 16 ? bytes[p] | (bytes[p + 1] << 8) : bytes.readUInt32LE(p);
      out[o] = r(px);
      out[o + 1] = g(px);
      out[o + 2] = b(px);
      if (hasAlpha && (out[o + 3] = a(px)) !== 0) anyAlpha = true;
    }
  }
  if (hasAlpha && !anyAlpha) return { data: dropAlpha(out), width: h.width, height: h.height, channels: 3 };
  return { data: out, width: h.width, height: h.height, channels };
}

function dropAlpha(rgba: Buffer): Buffer {
  const out = Buffer.alloc((rgba.length / 4) * 3);
  for (let i = 0, o = 0; i < rgba.length; i += 4, o += 3) {
    out[o] = rgba[i];
    out[o + 1] = rgba[i + 1];
    out[o + 2] = rgba[i + 2];
  }
  return out;
}

/**
 * RLE8 / RLE4: pairs (count, value) for runs; (0, 0) end of line, (0, 1) end of bitmap, (0, 2, dx, dy)
 * delta, (0, n) n literal pixels padded to a 16-bit boundary. Every step reads at least 2 bytes and
 * writes at most one row, so the work is bounded by the file's and the image's sizes.
 */
function decodeRle(bytes: Buffer, h: Header): RawImage {
  const { width, height } = h;
  const four = h.compression === BI_RLE4;
  const indices = new Uint8Array(width * height); // skipped pixels stay index 0
  let x = 0;
  let row = 0; // stored row: 0 is the bottom one unless top-down
  let p = h.offBits;
  const end = bytes.length;
  const put = (index: number) => {
    if (x < width) indices[(h.topDown ? row : height - 1 - row) * width + x] = index;
    x++;
  };
  let finished = false;
  while (!finished) {
    if (row >= height) break; // rows past the image: nothing more to draw
    if (p + 2 > end) {
      // a stream cut before its end-of-bitmap marker is truncated, unless every row had already ended
      if (row >= height - 1 && x >= width) break;
      throw truncated("RLE data ends before its end-of-bitmap marker");
    }
    const count = bytes[p];
    const value = bytes[p + 1];
    p += 2;
    if (count > 0) {
      const n = Math.min(count, Math.max(0, width - x));
      for (let i = 0; i < n; i++) put(four ? (i & 1 ? value & 0x0f : value >> 4) : value);
      x += count - n;
    } else if (value === 0) {
      x = 0;
      row++;
    } else if (value === 1) {
      finished = true;
    } else if (value === 2) {
      if (p + 2 > end) throw truncated("RLE data ends inside a delta");
      x += bytes[p];
      row += bytes[p + 1];
      p += 2;
    } else {
      const literalBytes = four ? Math.ceil(value / 2) : value;
      if (p + literalBytes > end) throw truncated("RLE data ends inside a run of literal pixels");
      for (let i = 0; i < value; i++) put(four ? (i & 1 ? bytes[p + (i >> 1)] & 0x0f : bytes[p + (i >> 1)] >> 4) : bytes[p + i]);
      p += literalBytes + (literalBytes & 1);
    }
  }
  const out = Buffer.alloc(width * height * 3);
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i];
    if (index < h.paletteCount) {
      out[3 * i] = h.palette[3 * index];
      out[3 * i + 1] = h.palette[3 * index + 1];
      out[3 * i + 2] = h.palette[3 * index + 2];
    }
  }
  return { data: out, width, height, channels: 3 };
}
