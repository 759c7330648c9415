/**
 * Shared by the two data scripts: walk Debian's openclipart-png package (public-domain clip art) in
 * sorted order, regular files only, skipping byte-identical copies of an image already taken.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";

export function requireOpenclipart(): string {
  // read when used: a test or a caller may set it after this module loads
  const root = process.env.OPENCLIPART_ROOT ?? "/usr/share/openclipart/png";
  if (!fs.existsSync(root)) {
    throw new Error(
      `${root} not found. Fix: install Debian's public-domain clip art with 'sudo apt-get install openclipart-png' (or set OPENCLIPART_ROOT).`,
    );
  }
  return root;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Regular PNG files (no symbolic links) directly inside a category folder, sorted by name. */
export function regularPngs(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.toLowerCase().endsWith(".png"))
    .map((e) => e.name)
    .sort(byName)
    .map((n) => path.join(dir, n));
}

/** Two-level categories (`food/fruit`), sorted. */
export function categories(root: string): string[] {
  const out: string[] = [];
  for (const top of fs.readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort(byName)) {
    for (const sub of fs.readdirSync(path.join(root, top), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort(byName)) {
      out.push(`${top}/${sub}`);
    }
  }
  return out;
}

export function contentHash(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}
