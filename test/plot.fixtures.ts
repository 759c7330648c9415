/** Small generated images and feature sets for the plot tests (nothing from ../shared is needed). */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import type { ImageItem } from "../lib/types";
import { gaussian, seededRandom } from "../lib/random";

export const RED = { r: 230, g: 20, b: 20 };
export const BLUE = { r: 20, g: 40, b: 220 };

/** A temporary folder with solid-colour images and one corrupt file; removed by `cleanup`. */
export async function imageFolder(): Promise<{ dir: string; red: ImageItem; blue: ImageItem; corrupt: ImageItem; cleanup: () => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-plot-"));
  const make = async (name: string, colour: typeof RED, w = 40, h = 30) => {
    await sharp({ create: { width: w, height: h, channels: 3, background: colour } }).png().toFile(path.join(dir, name));
  };
  await make("red1.png", RED);
  await make("blue1.png", BLUE, 30, 60);
  fs.writeFileSync(path.join(dir, "bad1.jpg"), Buffer.from("this is not a jpeg"));
  const item = (name: string, label: string): ImageItem => ({ path: path.join(dir, name), name, label });
  return {
    dir,
    red: item("red1.png", "red"),
    blue: item("blue1.png", "blue"),
    corrupt: item("bad1.jpg", "red"),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export async function pngInfo(png: Buffer): Promise<{ width: number; height: number; pixels: Uint8Array }> {
  assertPng(png);
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, pixels: new Uint8Array(data) };
}

export function assertPng(png: Buffer): void {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (!Buffer.isBuffer(png) || !sig.every((b, i) => png[i] === b)) throw new Error("not a PNG buffer");
}

/** How many pixels are within `tol` of the colour on every channel. */
export function countColour(pixels: Uint8Array, c: { r: number; g: number; b: number }, tol = 12): number {
  let n = 0;
  for (let i = 0; i < pixels.length; i += 3) {
    if (Math.abs(pixels[i] - c.r) <= tol && Math.abs(pixels[i + 1] - c.g) <= tol && Math.abs(pixels[i + 2] - c.b) <= tol) n++;
  }
  return n;
}

/** `clusters` Gaussian blobs in `dim` dimensions, labelled c0, c1...; point i belongs to blob i % clusters. */
export function blobs(n: number, dim: number, clusters: number, seed: number, spread = 4): { data: Float32Array; labels: string[] } {
  const g = gaussian(seededRandom(seed));
  const centres = Array.from({ length: clusters }, () => Array.from({ length: dim }, () => g() * spread));
  const data = new Float32Array(n * dim);
  const labels: string[] = [];
  for (let i = 0; i < n; i++) {
    labels.push(`c${i % clusters}`);
    for (let t = 0; t < dim; t++) data[i * dim + t] = centres[i % clusters][t] + g();
  }
  return { data, labels };
}
