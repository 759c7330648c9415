/**
 * dHash ("difference hash"): shrink to (size+1) x size grey pixels and keep one bit per horizontal
 * neighbour pair (left brighter than right). Near-duplicates differ in a few bits; the Hamming distance is
 * the score (metric "dhash", lower is better). Bits are stored as 0/1 floats so the same kernels rank them.
 */
import { invalidOption } from "../errors";

/** `grey` is (size+1) x size pixels, row-major (width size+1); returns size*size bits as 0/1. */
export function dhashBits(grey: ArrayLike<number>, size = 8): Float32Array {
  if (!Number.isInteger(size) || size < 2) throw invalidOption("hash size", "integer >= 2", size);
  const w = size + 1;
  if (grey.length !== w * size) throw invalidOption("grey.length", `${w} x ${size} = ${w * size} pixels`, grey.length);
  const bits = new Float32Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) bits[y * size + x] = grey[y * w + x] > grey[y * w + x + 1] ? 1 : 0;
  return bits;
}

export function hammingDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d++;
  return d;
}

/** RGB bytes to grey with ITU-R 601 weights. */
export function rgbToGrey(rgb: Uint8Array): Float32Array {
  const out = new Float32Array(rgb.length / 3);
  for (let p = 0; p < out.length; p++) out[p] = 0.299 * rgb[p * 3] + 0.587 * rgb[p * 3 + 1] + 0.114 * rgb[p * 3 + 2];
  return out;
}
