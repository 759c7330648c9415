/**
 * What the format readers of this folder hand to sharp: interleaved 8-bit pixels and their shape, and the
 * one error they throw. The reason is the whole message, worded like decode.ts's reasons for sharp's
 * errors, so a skipped BMP or PGM reads like a skipped PNG.
 */

/** 8-bit interleaved pixels, top row first: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA. */
export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

/** A file that a reader of this folder cannot decode; `message` is the reason, without the file's name. */
export class UndecodableImage extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "UndecodableImage";
  }
}

/**
 * Refuses, from the header alone and before any pixel is allocated, an image larger than `maxPixels`:
 * the same limit and reason as sharp's limitInputPixels.
 */
export function checkPixelLimit(width: number, height: number, maxPixels: number): void {
  if (width * height > maxPixels) throw new UndecodableImage(`image too large (${width} x ${height} pixels: pixel limit exceeded; possible decompression bomb)`);
}

/** round(v * 255 / max) for every v in 0..max: the exact 8-bit value of a sample of any depth. */
export function scaleTable(max: number): Uint8Array {
  const t = new Uint8Array(max + 1);
  for (let v = 0; v <= max; v++) t[v] = Math.round((v * 255) / max);
  return t;
}
