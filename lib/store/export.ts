/**
 * `cbir export`: the vectors of either store (folder index or Lance table, lib/store/open-store.ts) as an
 * (n, dim) float32 .npy file for `np.load`, with the ids one per line beside it (lib/store/npy.ts).
 * Rows are in id order whichever store they come from, so two stores of the same images export the same
 * files. Every check is made before the first byte is written.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CbirError } from "../errors";
import { checkOutputFile } from "../fsutil";
import { readableName } from "../prepare/names";
import type { FeatureMatrix } from "../types";
import { exportNpy, idsFileOf } from "./npy";
import { openStoredVectors } from "./open-store";

export interface ExportOptions {
  /**
   * Export the vectors as extracted (the pooled CNN vector, with the colour histogram appended when the
   * pipeline fuses one), before any fitted step. Default: the search vectors, after the fitted post-processing.
   */
  raw?: boolean;
}

export interface ExportResult {
  file: string;
  idsFile: string;
  kind: "folder" | "lance";
  vectors: "search" | "raw";
  rows: number;
  dim: number;
  /** The fitted steps the search vectors went through (empty for raw vectors or a pipeline without any). */
  postSteps: string[];
}

/** Refuses an output path that is a folder, under a file, unwritable, or in a folder that does not exist. */
function checkExportFile(file: string, what: string): void {
  checkOutputFile(file, what);
  const dir = path.dirname(path.resolve(file));
  // a typo in the folder should not quietly create a tree of folders
  if (!fs.existsSync(dir)) throw new CbirError("E_NOT_WRITABLE", `the folder of the ${what} '${path.resolve(file)}' does not exist.`, { file: path.resolve(file), fix: `create ${dir} first, or give a path in an existing folder.` });
}

/** `m` with its rows in id order (a folder index keeps them in scan order, a Lance table in id order). */
function inIdOrder(m: FeatureMatrix): FeatureMatrix {
  const order = m.ids.map((_, i) => i).sort((a, b) => (m.ids[a] < m.ids[b] ? -1 : m.ids[a] > m.ids[b] ? 1 : 0));
  if (order.every((r, i) => r === i)) return m;
  const data = new Float32Array(m.data.length);
  order.forEach((r, i) => data.set(m.data.subarray(r * m.dim, (r + 1) * m.dim), i * m.dim));
  return { ...m, ids: order.map((r) => m.ids[r]), data };
}

/** Writes the stored vectors of `uri` (folder index, `<images>` with its .cbir-index, or a Lance URI) to `file` and its ids file. */
export async function exportStore(uri: string, file: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const out = path.resolve(file);
  const idsFile = idsFileOf(out);
  checkExportFile(out, "output .npy file");
  checkExportFile(idsFile, "ids file");
  const stored = await openStoredVectors(uri);
  const m = inIdOrder(opts.raw ? stored.raw : stored.features);
  // one id per line: an id holding a line break would shift every id after it
  const broken = m.ids.find((id) => /[\r\n]/.test(id));
  if (broken !== undefined)
    throw new CbirError("E_NOT_WRITABLE", `the id '${readableName(broken)}' in '${uri}' holds a line break, which ${path.basename(idsFile)} (one id per line) cannot hold.`, { file: uri, fix: "rename that file, index again, then export." });
  exportNpy(m, out);
  return { file: out, idsFile, kind: stored.kind, vectors: opts.raw ? "raw" : "search", rows: m.ids.length, dim: m.dim, postSteps: opts.raw ? [] : stored.postSteps };
}
