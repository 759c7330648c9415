/**
 * Figure composition with sharp: a white canvas, thumbnails composited as raw pixels, then one
 * transparent SVG overlay (text, frames, placeholders) rendered by librsvg. No browser, no canvas package.
 * Nothing is kept between figures (sharp's cache is off, see lib/prepare/decode.ts), so memory is released
 * once the PNG buffer is returned.
 */
import * as path from "node:path";
import sharp from "sharp";
import { invalidOption } from "../errors";
import { DEFAULT_MAX_PIXELS, readImageFile, uprightRgb } from "../prepare/decode";
import { svgDocument } from "./svg";
import { writeFileAtomic } from "../fsutil";

type OverlayOptions = Parameters<ReturnType<typeof sharp>["composite"]>[0][number];

/** Raw RGB pixels of one thumbnail, or the reason it could not be made. */
// Every member names every field so that code narrowed on `ok` also compiles without strict null checks
// (tslab's TypeScript 5.0, non-strict, does not narrow a union on a boolean discriminant there).
export type Thumb =
  | { ok: true; data: Buffer; width: number; height: number; reason?: undefined }
  | { ok: false; reason: string; data?: undefined; width?: undefined; height?: undefined };

export interface Placement {
  thumb: Thumb;
  /** Top-left corner of the thumbnail's box. */
  left: number;
  top: number;
}

/**
 * The image fitted inside a `box` x `box` square, enlarged when smaller (the originals' 100 px images
 * are shown at the figure's thumbnail size) and upright (EXIF orientation), alpha flattened onto white.
 */
export async function loadThumb(file: string, box: number): Promise<Thumb> {
  try {
    const input = await readImageFile(file);
    const { data, info } = await (await uprightRgb(input, DEFAULT_MAX_PIXELS))
      .resize(box, box, { fit: "inside" })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { ok: true, data, width: info.width, height: info.height };
  } catch (e) {
    return { ok: false, reason: shortReason(e, file) };
  }
}

/** Loads many thumbnails, a few at a time, so a large t-SNE map never holds every decoded image at once. */
export async function loadThumbs(files: string[], box: number, onDone?: (done: number) => void, load: (file: string, box: number) => Promise<Thumb> = loadThumb): Promise<Thumb[]> {
  const out = new Array<Thumb>(files.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      out[i] = await load(files[i], box);
      onDone?.(++done);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  return out;
}

/**
 * The thumbnail with a solid border of `width` px baked into its pixels, so that when thumbnails overlap
 * each frame stays with its own image instead of being drawn over the images placed after it.
 */
export function frameThumb(thumb: Thumb, colour: { r: number; g: number; b: number }, width: number): Thumb {
  if (!thumb.ok || width <= 0) return thumb;
  const w = thumb.width + 2 * width;
  const h = thumb.height + 2 * width;
  const out = Buffer.alloc(w * h * 3);
  for (let p = 0; p < w * h; p++) {
    out[3 * p] = colour.r;
    out[3 * p + 1] = colour.g;
    out[3 * p + 2] = colour.b;
  }
  for (let y = 0; y < thumb.height; y++) {
    thumb.data.copy(out, ((y + width) * w + width) * 3, y * thumb.width * 3, (y + 1) * thumb.width * 3);
  }
  return { ok: true, data: out, width: w, height: h };
}

/** "#rrggbb" or "hsl(h, s%, l%)" to RGB. */
export function parseColour(css: string): { r: number; g: number; b: number } {
  const hex = /^#([0-9a-f]{6})$/i.exec(css);
  if (hex) {
    const v = parseInt(hex[1], 16);
    return { r: v >> 16, g: (v >> 8) & 255, b: v & 255 };
  }
  const hsl = /^hsl\(\s*([\d.]+)\s*,\s*([\d.]+)%\s*,\s*([\d.]+)%\s*\)$/i.exec(css);
  if (hsl) {
    const h = Number(hsl[1]) / 360, s = Number(hsl[2]) / 100, l = Number(hsl[3]) / 100;
    const q = l < 0.5 ? l * (1 + s) : l + s - l * s;
    const p = 2 * l - q;
    const f = (t: number) => {
      t = (t + 1) % 1;
      const v = t < 1 / 6 ? p + (q - p) * 6 * t : t < 1 / 2 ? q : t < 2 / 3 ? p + (q - p) * (2 / 3 - t) * 6 : p;
      return Math.round(v * 255);
    };
    return { r: f(h + 1 / 3), g: f(h), b: f(h - 1 / 3) };
  }
  return { r: 0, g: 0, b: 0 };
}

/** A reason fit for a small placeholder: the path and the "Fix:" advice are dropped. */
export function shortReason(e: unknown, file: string): string {
  let msg = String((e as Error)?.message ?? e).split("\n")[0];
  msg = msg.split(" Fix:")[0].split(file).join("").replace(/^[:\s]+/, "").replace(/\.$/, "");
  return msg || "unreadable image";
}

/**
 * Renders `svgBody` over a white canvas on which the thumbnails are centred in their boxes.
 * Thumbnails go under the SVG so that frames and captions drawn in it stay visible.
 */
export async function composeFigure(width: number, height: number, box: number, placements: Placement[], svgBody: string): Promise<Buffer> {
  const w = Math.ceil(width);
  const h = Math.ceil(height);
  const layers: OverlayOptions[] = [];
  for (const p of placements) {
    if (!p.thumb.ok) continue;
    const { data, width: tw, height: th } = p.thumb;
    const left = Math.round(p.left + (box - tw) / 2);
    const top = Math.round(p.top + (box - th) / 2);
    if (left < 0 || top < 0 || left + tw > w || top + th > h) continue; // never let sharp reject a figure for one stray image
    layers.push({ input: data, raw: { width: tw, height: th, channels: 3 }, left, top });
  }
  layers.push({ input: Buffer.from(svgDocument(w, h, svgBody)), left: 0, top: 0 });
  // Composite in one flattened pass: sharp applies the layers in order onto the white base.
  return sharp({ create: { width: w, height: h, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(layers)
    .png({ compressionLevel: 9 })
    .toBuffer();
}

/** Renders a whole SVG document to PNG on white. */
export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg)).flatten({ background: { r: 255, g: 255, b: 255 } }).png({ compressionLevel: 9 }).toBuffer();
}

/** Checks a figure size option: an integer in [min, max]. */
export function checkSize(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw invalidOption(name, `integer between ${min} and ${max}`, value);
  return value;
}

/** Writes a PNG atomically (parent folders created; a reader never sees half a figure). */
export async function writePng(buffer: Buffer | Uint8Array, file: string): Promise<void> {
  await writeFileAtomic(path.resolve(file), buffer);
}
