/**
 * Stage "prepare": find the images of a database folder, with labels. Never decodes pixels.
 * Files that are not usable (dangling links, link loops, pipes, sockets) are listed in `skipped` with the
 * reason; only a missing or empty folder, or one without any image, is an error.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CbirError, expectOneOf } from "../errors";
import type { ImageItem, SkippedFile } from "../types";
import { LABEL_SOURCES, type LabelSource, labelFromFolder, labelFromName, readLabelsCsv } from "./labels";

export const IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".avif", ".svg", ".bmp"] as const;

export interface ScanOptions {
  /** Descend into sub-folders (default true). */
  recursive?: boolean;
  /** Where labels come from (default "auto": labels.csv if present, else sub-folders if every image is in one, else the name prefix). */
  labels?: LabelSource;
  /** A labels CSV other than `<root>/labels.csv`. */
  labelsCsv?: string;
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
  const visited = new Set<string>([fs.realpathSync(absRoot)]);

  const walk = (dir: string, rel: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
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
        target = fs.statSync(abs); // follows links; throws on dangling links and loops
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (isImageName(ent.name) || ent.isSymbolicLink())
          skipped.push({ path: abs, reason: code === "ELOOP" ? "symbolic-link loop" : code === "ENOENT" ? "dangling symbolic link" : `cannot stat (${code})` });
        continue;
      }
      if (target.isDirectory()) {
        if (!(options.recursive ?? true)) continue;
        const real = fs.realpathSync(abs);
        if (visited.has(real)) {
          skipped.push({ path: abs, reason: "folder already visited (symbolic-link loop)" });
          continue;
        }
        visited.add(real);
        walk(abs, name);
        continue;
      }
      if (!isImageName(ent.name)) continue;
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

/** `<name>` for output files: relative path without extension, `/` replaced by `__`, so nested folders never collide. */
export function outputStem(name: string): string {
  return name.replace(/\.[^./]+$/, "").split("/").join("__");
}
