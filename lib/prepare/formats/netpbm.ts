/**
 * Netpbm images, read exactly as netpbm's format pages define them (the classic face and texture sets
 * ship as PGM): P1 / P4 bitmaps (PBM, 1 = black), P2 / P5 greymaps (PGM), P3 / P6 pixmaps (PPM), plain
 * (ASCII) and raw (binary), and P7 (PAM) with depth 1 to 4. Header tokens are separated by whitespace
 * and `#` comments; a raw raster starts after exactly one whitespace byte; maxval is 1..65535, samples
 * above 255 are two bytes, big-endian; every sample is scaled to 8 bits as round(v * 255 / maxval).
 * Grey stays one channel (sharp expands it to RGB as it does for grey PNG); only the first image of a
 * multi-image file is read. Sizes are checked against the pixel limit and the file's length before any
 * pixel is allocated.
 */
import { checkPixelLimit, scaleTable, UndecodableImage, type RawImage } from "./raster";

/** "P1".."P7" then whitespace: the check before calling decodeNetpbm. */
export function looksLikeNetpbm(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0x50 && bytes[1] >= 0x31 && bytes[1] <= 0x37 && isSpace(bytes[2]);
}

const KIND: Record<number, string> = { 1: "PBM", 2: "PGM", 3: "PPM", 4: "PBM", 5: "PGM", 6: "PPM", 7: "PAM" };

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0b || c === 0x0c || c === 0x0d;
}

/** Reads the header's whitespace- and comment-separated tokens. */
class Tokens {
  constructor(private readonly b: Buffer, public pos: number, private readonly kind: string) {}

  truncated(what: string): UndecodableImage {
    return new UndecodableImage(`truncated ${this.kind} (${what})`);
  }

  corrupt(what: string): UndecodableImage {
    return new UndecodableImage(`corrupt ${this.kind} (${what})`);
  }

  skipSpace(): void {
    const b = this.b;
    while (this.pos < b.length) {
      const c = b[this.pos];
      if (isSpace(c)) this.pos++;
      else if (c === 0x23) while (this.pos < b.length && b[this.pos] !== 0x0a && b[this.pos] !== 0x0d) this.pos++;
      else break;
    }
  }

  /** A decimal integer of at most 10 digits (values past 2^32 are no image size or sample). */
  int(what: string): number {
    this.skipSpace();
    const b = this.b;
    const start = this.pos;
    let v = 0;
    while (this.pos < b.length && b[this.pos] >= 0x30 && b[this.pos] <= 0x39) {
      v = v * 10 + (b[this.pos++] - 0x30);
      if (this.pos - start > 10) throw this.corrupt(`${what} has more than 10 digits`);
    }
    if (this.pos === start) {
      if (this.pos >= b.length) throw this.truncated(`file ends before its ${what}`);
      throw this.corrupt(`${what} expected, found ${JSON.stringify(String.fromCharCode(b[this.pos]))}`);
    }
    return v;
  }
}

/** Decodes a Netpbm file to 8-bit grey, grey + alpha, RGB or RGBA. Throws UndecodableImage with the reason. */
export function decodeNetpbm(bytes: Buffer, maxPixels: number): RawImage {
  const type = bytes[1] - 0x30;
  const kind = KIND[type];
  const t = new Tokens(bytes, 2, kind);
  let width: number, height: number, maxval: number, channels: number;
  if (type === 7) ({ width, height, maxval, channels } = pamHeader(bytes, t, maxPixels));
  else {
    width = t.int("width");
    height = t.int("height");
    if (width < 1 || height < 1) throw t.corrupt(`${width} x ${height} pixels`);
    checkPixelLimit(width, height, maxPixels);
    maxval = type === 1 || type === 4 ? 1 : t.int("maxval");
    channels = type === 3 || type === 6 ? 3 : 1;
  }
  if (maxval < 1 || maxval > 65535) throw t.corrupt(`maxval ${maxval}, not 1..65535`);
  const count = width * height * channels;

  if (type === 1 || type === 2 || type === 3) return plainRaster(bytes, t, type, width, height, channels as 1 | 3, maxval, count);

  // raw: one whitespace byte after the header (PAM's ENDHDR line already ends with it)
  if (type !== 7) {
    if (t.pos >= bytes.length) throw t.truncated("file ends after its header");
    if (!isSpace(bytes[t.pos])) throw t.corrupt("no whitespace between header and pixels");
    t.pos++;
  }
  const start = t.pos;
  const have = bytes.length - start;
  if (type === 4) {
    const rowBytes = Math.ceil(width / 8);
    if (have < rowBytes * height) throw t.truncated(`raster has ${have} of ${rowBytes * height} bytes`);
    const out = Buffer.alloc(width * height);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) out[y * width + x] = (bytes[start + y * rowBytes + (x >> 3)] >> (7 - (x & 7))) & 1 ? 0 : 255;
    return { data: out, width, height, channels: 1 };
  }
  const sampleBytes = maxval > 255 ? 2 : 1;
  if (have < count * sampleBytes) throw t.truncated(`raster has ${have} of ${count * sampleBytes} bytes`);
  const out = Buffer.alloc(count);
  const table = scaleTable(maxval);
  for (let i = 0; i < count; i++) {
    const v = sampleBytes === 1 ? bytes[start + i] : (bytes[start + 2 * i] << 8) | bytes[start + 2 * i + 1];
    if (v > maxval) throw t.corrupt(`sample ${v} above maxval ${maxval}`);
    out[i] = table[v];
  }
  return { data: out, width, height, channels: channels as RawImage["channels"] };
}

function plainRaster(bytes: Buffer, t: Tokens, type: number, width: number, height: number, channels: 1 | 3, maxval: number, count: number): RawImage {
  // at least one byte per sample (a digit) must be left, checked before the raster is allocated
  const have = bytes.length - t.pos;
  if (have < count) throw t.truncated(`${have} bytes left for ${count} samples`);
  const out = Buffer.alloc(count);
  if (type === 1) {
    for (let i = 0; i < count; i++) {
      t.skipSpace();
      const c = bytes[t.pos++];
      if (c === undefined) throw t.truncated(`${i} of ${count} pixels`);
      if (c !== 0x30 && c !== 0x31) throw t.corrupt(`pixel ${JSON.stringify(String.fromCharCode(c))}, not 0 or 1`);
      out[i] = c === 0x31 ? 0 : 255;
    }
    return { data: out, width, height, channels: 1 };
  }
  const table = scaleTable(maxval);
  for (let i = 0; i < count; i++) {
    t.skipSpace();
    if (t.pos >= bytes.length) throw t.truncated(`${i} of ${count} samples`);
    const v = t.int("sample");
    if (v > maxval) throw t.corrupt(`sample ${v} above maxval ${maxval}`);
    out[i] = table[v];
  }
  return { data: out, width, height, channels };
}

/** PAM: WIDTH, HEIGHT, DEPTH, MAXVAL and TUPLTYPE lines, comments, then ENDHDR and a newline. */
function pamHeader(bytes: Buffer, t: Tokens, maxPixels: number): { width: number; height: number; maxval: number; channels: number } {
  const fields: Record<string, number> = {};
  for (;;) {
    t.skipSpace();
    if (t.pos >= bytes.length) throw t.truncated("file ends before ENDHDR");
    let end = t.pos;
    while (end < bytes.length && !isSpace(bytes[end])) end++;
    const word = bytes.toString("latin1", t.pos, end);
    t.pos = end;
    if (word === "ENDHDR") {
      while (t.pos < bytes.length && bytes[t.pos] !== 0x0a) t.pos++; // rest of the line
      t.pos++;
      break;
    }
    if (word === "TUPLTYPE") {
      while (t.pos < bytes.length && bytes[t.pos] !== 0x0a) t.pos++; // the tuple type only names what DEPTH says
      continue;
    }
    if (word !== "WIDTH" && word !== "HEIGHT" && word !== "DEPTH" && word !== "MAXVAL") throw t.corrupt(`unknown header line ${JSON.stringify(word.slice(0, 20))}`);
    fields[word] = t.int(word);
  }
  for (const k of ["WIDTH", "HEIGHT", "DEPTH", "MAXVAL"]) if (fields[k] === undefined) throw t.corrupt(`no ${k} line`);
  const { WIDTH: width, HEIGHT: height, DEPTH: channels, MAXVAL: maxval } = fields;
  if (width < 1 || height < 1) throw t.corrupt(`${width} x ${height} pixels`);
  checkPixelLimit(width, height, maxPixels);
  if (channels < 1 || channels > 4) throw new UndecodableImage(`PAM depth ${channels} is not supported (1 to 4: grey, grey + alpha, RGB, RGBA)`);
  return { width, height, maxval, channels };
}
