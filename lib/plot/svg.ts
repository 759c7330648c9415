/**
 * Small SVG helpers. Text is rendered by sharp's librsvg with whatever font fontconfig finds (DejaVu Sans
 * on Debian); there is no text measurement, so widths are estimated conservatively and long strings are
 * cut with an ellipsis rather than allowed to overlap their neighbours.
 */

import { readableName } from "../prepare/names";

export const FONT_FAMILY = "DejaVu Sans, Verdana, Arial, sans-serif";

/** Distinguishable colours: matplotlib's tab10, then darker and lighter companions for the 11th to 20th class. */
export const PALETTE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
  "#0b3d66", "#a65205", "#98df8a", "#ff9896", "#4b2d69",
  "#c49c94", "#8c1d62", "#000000", "#dbdb8d", "#0e6d78",
] as const;

/**
 * Text as XML character data or attribute value. Any string is accepted, file names included: characters
 * XML cannot hold (controls, lone surrogates, bytes that are not UTF-8, U+FFFE) and those that would
 * mislead on screen (direction overrides) are first shown readably (`\x1b`, `\xff`, see readableName),
 * so a caption can never make the SVG invalid.
 */
export function escapeXml(text: string): string {
  return readableName(String(text)).replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c] as string);
}

/** Upper estimate of the rendered width of `text` at `size` px in DejaVu Sans (a wide font: ~0.6 em a glyph). */
export function textWidth(text: string, size: number): number {
  let em = 0;
  for (const ch of readableName(String(text))) {
    if ("il.,:;'|!".includes(ch)) em += 0.32;
    else if (ch === " ") em += 0.33;
    else if (/[A-Z]/.test(ch) || "mwMW@%#".includes(ch)) em += 0.78;
    else em += 0.63;
  }
  return em * size;
}

/** `text` cut with "…" so that it fits in `maxWidth` px. */
export function fitText(text: string, size: number, maxWidth: number): string {
  text = readableName(String(text)); // cut what is shown, never inside an escape's bytes
  if (textWidth(text, size) <= maxWidth) return text;
  const chars = [...text];
  while (chars.length > 1 && textWidth(chars.join("") + "…", size) > maxWidth) chars.pop();
  return chars.join("") + "…";
}

/** Splits `text` into at most `maxLines` lines that fit `maxWidth`, the last one ellipsised. */
export function wrapText(text: string, size: number, maxWidth: number, maxLines: number): string[] {
  const words = readableName(String(text)).split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let current = "";
  for (const word of words) {
    const next = current ? `${current} ${word}` : word;
    if (textWidth(next, size) <= maxWidth || !current) current = next;
    else {
      lines.push(current);
      current = word;
    }
  }
  if (current) lines.push(current);
  const kept = lines.slice(0, maxLines).map((l) => fitText(l, size, maxWidth));
  if (lines.length > maxLines) kept[maxLines - 1] = fitText(kept[maxLines - 1] + " …", size, maxWidth);
  return kept;
}

export interface TextStyle {
  size?: number;
  anchor?: "start" | "middle" | "end";
  weight?: "normal" | "bold";
  fill?: string;
  /** Rotation in degrees around the text's anchor point. */
  rotate?: number;
}

/** One line of text whose baseline is at `y`. */
export function svgText(x: number, y: number, text: string, style: TextStyle = {}): string {
  const size = style.size ?? 14;
  const transform = style.rotate ? ` transform="rotate(${style.rotate} ${fmt(x)} ${fmt(y)})"` : "";
  return (
    `<text x="${fmt(x)}" y="${fmt(y)}" font-family="${FONT_FAMILY}" font-size="${size}" ` +
    `text-anchor="${style.anchor ?? "start"}" font-weight="${style.weight ?? "normal"}" fill="${style.fill ?? "#000"}"${transform}>` +
    `${escapeXml(text)}</text>`
  );
}

export function svgRect(x: number, y: number, w: number, h: number, attrs: { fill?: string; stroke?: string; strokeWidth?: number } = {}): string {
  return (
    `<rect x="${fmt(x)}" y="${fmt(y)}" width="${fmt(w)}" height="${fmt(h)}" fill="${attrs.fill ?? "none"}"` +
    (attrs.stroke ? ` stroke="${attrs.stroke}" stroke-width="${attrs.strokeWidth ?? 1}"` : "") +
    "/>"
  );
}

export function svgDocument(width: number, height: number, body: string, background?: string): string {
  const bg = background ? `<rect width="100%" height="100%" fill="${background}"/>` : "";
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${bg}${body}</svg>`;
}

/** Coordinates with at most two decimals keep the SVG small. */
export function fmt(v: number): string {
  return String(Math.round(v * 100) / 100);
}
