/**
 * The one sharp pipeline every decode runs, as data plus one function. The function uses only its
 * arguments, so the SVG decode child (lib/prepare/decode-child.ts) runs its source text and an image
 * decodes to the same pixels in either process.
 */
import type sharp from "sharp";

/** Turns sharp's messages into one short reason. */
export function describeSharpError(e: unknown): string {
  const msg = String((e as Error)?.message ?? e).split("\n")[0];
  if (/pixel limit/i.test(msg)) return "image too large (pixel limit exceeded; possible decompression bomb)";
  if (/unsupported image format/i.test(msg)) return "not an image, or a format that cannot be decoded";
  if (/^timeout/i.test(msg)) return "decoding took longer than the time limit";
  if (/premature end|truncated|VipsJpeg|vipspng|libpng|read error|corrupt|bad|invalid/i.test(msg)) return `corrupt or truncated image (${msg})`;
  return msg;
}

/**
 * What one decode does, as plain data: the SVG child process runs the very same plan (runSharpPlan's
 * text is sent to it), so an image decodes to the same pixels in either process.
 */
export interface SharpPlan {
  maxPixels: number;
  timeoutSeconds: number;
  /** Absent: the full upright image. */
  resize?: { width: number; height: number; fit: "fill" | "inside"; kernel?: "linear" | "nearest"; withoutEnlargement: boolean };
}

export interface RawPixels {
  data: Buffer;
  width: number;
  height: number;
}

/**
 * The one sharp pipeline of every decode: upright (EXIF orientation), alpha flattened onto white, sRGB,
 * optionally resized, 8-bit RGB. It uses only its arguments (it is also run from its source text).
 */
export async function runSharpPlan(sharpModule: typeof sharp, input: Buffer, plan: SharpPlan, raw?: { width: number; height: number; channels: 1 | 2 | 3 | 4 }): Promise<RawPixels> {
  const options = { limitInputPixels: plan.maxPixels, failOn: "error" as const, pages: 1, animated: false };
  // pixels a reader of lib/prepare/formats decoded (BMP, Netpbm, HEIC) come with their shape
  let p = sharpModule(input, raw ? { ...options, raw } : options)
    .timeout({ seconds: Math.max(1, Math.ceil(plan.timeoutSeconds)) })
    .rotate()
    .flatten({ background: { r: 255, g: 255, b: 255 } })
    .toColourspace("srgb");
  if (plan.resize) {
    const r = plan.resize;
    // sharp's default kernel (lanczos3) where the plan names none
    p = r.kernel ? p.resize(r.width, r.height, { fit: r.fit, kernel: r.kernel, withoutEnlargement: r.withoutEnlargement }) : p.resize(r.width, r.height, { fit: r.fit, withoutEnlargement: r.withoutEnlargement });
  }
  const out = await p.removeAlpha().raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
  return { data: out.data, width: out.info.width, height: out.info.height };
}

