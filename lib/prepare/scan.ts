/**
 * Stage "prepare": find the images of a database folder, with labels. Never decodes pixels.
 * Files that are not usable (dangling links, link loops, pipes, sockets, links leading out of the folder)
 * are listed in `skipped` with the reason; only a missing or empty folder, or one without any image, is an
 * error. Names are read as bytes, so any name the filesystem allows is found (see ./names).
 * Symbolic links are followed only while they stay inside the folder (a link to `/` would walk the whole
 * disk), unless `followLinks` is set.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { CbirError, expectOneOf } from "../errors";
import type { ImageItem, SkippedFile } from "../types";
import { LABEL_SOURCES, type LabelSource, labelFromFolder, labelFromName, readLabelsCsv } from "./labels";
import { fromFsBytes, fsPath, readableName, toFsBytes } from "./names";

/**
 * Only extensions that decode: sharp reads JPEG, PNG, WebP, GIF, TIFF, AVIF (its libvips has an AV1
 * decoder) and SVG; lib/prepare/formats/ reads BMP, the Netpbm family and HEVC-coded HEIC/HEIF. The
 * format is told from the bytes, not from this list, so a PNG named .bmp still decodes.
 */
export const IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".avif", ".svg", ".bmp", ".pbm", ".pgm", ".ppm", ".pnm", ".pam", ".heic", ".heif"] as const;

export interface ScanOptions {
  /** Descend into sub-folders (default true). */
  recursive?: boolean;
  /** Where labels come from (default "auto": labels.csv if present, else sub-folders if every image is in one, else the name prefix). */
  labels?: LabelSource;
  /** A labels CSV other than `<root>/labels.csv`. */
  labelsCsv?: string;
  /**
   * Follow symbolic links that lead outside the folder (default false: they are skipped with a reason).
   * Links whose target is inside the folder are always followed; a folder is walked once however reached.
   */
  followLinks?: boolean;
}

export interface ScanResult {
  root: string;
  items: ImageItem[];
  skipped: SkippedFile[];
}

export function isImageName(name: string): boolean {
  return (IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(name).toLowerCase());
}

export function scanFolder(root: string, options: ScanOptions = {}): ScanResult {
  const labels = expectOneOf("labels", options.labels ?? "auto", LABEL_SOURCES);
  const absRoot = path.resolve(root);
  let st: fs.Stats;
  try {
    st = fs.statSync(absRoot);
  } catch {
    throw new CbirError("E_NO_FOLDER", `database folder '${root}' does not exist.`, {
      file: root,
      fix: "give the path of a folder of images (for example data/sample).",
    });
  }
  if (!st.isDirectory()) {
    throw new CbirError("E_NO_FOLDER", `'${root}' is not a folder.`, { file: root, fix: "give the folder that holds the images, not a file." });
  }

  const found: { abs: string; name: string }[] = [];
  const skipped: SkippedFile[] = [];
  let entriesSeen = 0;
  const realRoot = realPath(absRoot);
  const visited = new Set<string>([realRoot]);
  const inside = (real: string) => real === realRoot || real.startsWith(realRoot.endsWith(path.sep) ? realRoot : realRoot + path.sep);

  const walk = (dir: string, rel: string) => {
    let entries: { name: string; link: boolean }[];
    try {
      entries = fs
        .readdirSync(fsPath(dir), { withFileTypes: true, encoding: "buffer" })
        .map((d) => ({ name: fromFsBytes(d.name as unknown as Buffer), link: d.isSymbolicLink() }));
    } catch (e) {
      skipped.push({ path: dir, reason: `cannot list folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const ent of entries) {
      if (ent.name.startsWith(".")) continue;
      entriesSeen++;
      const abs = path.join(dir, ent.name);
      const name = rel ? `${rel}/${ent.name}` : ent.name;
      let target: fs.Stats;
      try {
        target = fs.statSync(fsPath(abs)); // follows links; throws on dangling links and loops
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (isImageName(ent.name) || ent.link)
          skipped.push({ path: abs, reason: code === "ELOOP" ? "symbolic-link loop" : code === "ENOENT" ? "dangling symbolic link" : `cannot stat (${code})` });
        continue;
      }
      if (!target.isDirectory() && !isImageName(ent.name)) continue;
      if (target.isDirectory() && !(options.recursive ?? true)) continue;
      // a link (or a folder reached through one) must lead to a place inside the folder unless asked
      const real = ent.link || target.isDirectory() ? realPath(abs) : "";
      if (ent.link && !options.followLinks && !inside(real)) {
        skipped.push({ path: abs, reason: `symbolic link to ${real}, outside the folder: not followed (use --follow-links to follow it)` });
        continue;
      }
      if (target.isDirectory()) {
        if (visited.has(real)) {
          skipped.push({ path: abs, reason: "folder already visited (symbolic-link loop)" });
          continue;
        }
        visited.add(real);
        walk(abs, name);
        continue;
      }
      if (!target.isFile()) {
        skipped.push({ path: abs, reason: "not a regular file (pipe, socket or device)" });
        continue;
      }
      found.push({ abs, name });
    }
  };
  walk(absRoot, "");

  if (entriesSeen === 0) {
    throw new CbirError("E_EMPTY_FOLDER", `database folder '${root}' is empty.`, {
      file: root,
      fix: `put images (${IMAGE_EXTENSIONS.slice(0, 4).join(", ")}...) in it, or give another folder.`,
    });
  }
  if (found.length === 0) {
    throw new CbirError("E_NO_IMAGES", `database folder '${root}' holds no image files${skipped.length ? ` (${skipped.length} unusable)` : ""}.`, {
      file: root,
      fix: `add images with one of the extensions ${IMAGE_EXTENSIONS.join(" ")}.`,
    });
  }

  const csvPath = options.labelsCsv ?? path.join(absRoot, "labels.csv");
  const source: LabelSource =
    labels !== "auto"
      ? labels
      : fs.existsSync(csvPath)
        ? "csv"
        : found.every((f) => f.name.includes("/"))
          ? "folder"
          : "prefix";
  const csv = source === "csv" ? readLabelsCsv(csvPath) : undefined;
  const csvBase = path.dirname(path.resolve(csvPath));

  const items: ImageItem[] = found.map(({ abs, name }) => {
    let label: string | undefined;
    if (source === "prefix") label = labelFromName(name);
    else if (source === "folder") label = labelFromFolder(name) ?? labelFromName(name);
    else if (csv) label = csv.get(path.relative(csvBase, abs).split(path.sep).join("/")) ?? csv.get(name);
    return label === undefined ? { path: abs, name } : { path: abs, name, label };
  });
  return { root: absRoot, items, skipped };
}

/** The real path of `p` (links resolved), as a name string that round-trips to its bytes. */
function realPath(p: string): string {
  return fromFsBytes(fs.realpathSync(fsPath(p), { encoding: "buffer" }));
}

/**
 * Longest output stem, in UTF-8 bytes: a file name holds at most 255 bytes, and `<stem>_rec.png` plus what
 * the atomic writer adds for its temporary name (about 40 bytes) must fit with a margin.
 */
export const MAX_STEM_BYTES = 150;

/**
 * `<name>` for output files: relative path without extension, `/` replaced by `__`, shown readably
 * (control characters and bytes that are not UTF-8 as `\x1b`, `\xff`). A stem longer than
 * MAX_STEM_BYTES is cut and gets `~<8 hex>` (a hash of the whole name), so it stays distinct.
 */
export function outputStem(name: string): string {
  const stem = readableName(name.replace(/\.[^./]+$/, "").split("/").join("__"));
  return Buffer.byteLength(stem) <= MAX_STEM_BYTES ? stem : hashedStem(stem, name);
}

/**
 * Output stems of names written side by side: `outputStem` for each, except where two would name the same
 * file (`cat.png` and `cat.jpg`, `a/b.png` and `a__b.png`, or names that differ only in case, which are one
 * file on a case-insensitive disk): each of those gets `~<8 hex>` of its full name. Ordinary names keep
 * `<name>`; a colliding name gets the same stem whatever the other names are.
 */
export function outputStems(names: readonly string[]): string[] {
  const stems = names.map(outputStem);
  const count = new Map<string, number>();
  for (const s of stems) count.set(s.toLowerCase(), (count.get(s.toLowerCase()) ?? 0) + 1);
  return stems.map((s, i) => (count.get(s.toLowerCase())! > 1 ? hashedStem(s, names[i]) : s));
}

function hashedStem(stem: string, name: string): string {
  const hash = createHash("sha256").update(toFsBytes(name)).digest("hex").slice(0, 8);
  let cut = "";
  for (const ch of stem) {
    if (Buffer.byteLength(cut + ch) > MAX_STEM_BYTES - 9) break;
    cut += ch;
  }
  return `${cut}~${hash}`;
}
