/**
 * The index folder's own marker, `cbir-index.json` (format name and version), written before anything else
 * when an index is created. Only a folder that is new, empty or marked is ever written as an index: any
 * other folder is refused (E_NOT_AN_INDEX) and left exactly as it was, so `--index` pointed at a folder of
 * user files never overwrites or deletes one of them. A folder made by a version without markers is
 * recognised by its manifest (valid, our format, checksum present and right) and marked on its next update.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CbirError } from "../errors";
import { checkOutputDir, isTmpFileOf, writeError, writeFileAtomicSync } from "../fsutil";
import { reporterOf, type Reporter } from "../report";
import { MANIFEST_FILE, MANIFEST_FORMAT, MANIFEST_VERSION, readManifest } from "./manifest";

export const MARKER_FILE = "cbir-index.json";

/** What a folder given as an index is: to be created ("new": missing or empty), marked, or an unmarked index of an earlier version. */
export type IndexDirState = "new" | "marked" | "legacy";

function notAnIndex(dir: string, why: string): CbirError {
  return new CbirError("E_NOT_AN_INDEX", `'${dir}' ${why}, so it is not used as an index folder; nothing in it was changed.`, {
    file: dir,
    fix: "give a new or empty folder for the index (the default is <images>/.cbir-index).",
  });
}

/** Read-only check of an index folder before any work: E_NOT_AN_INDEX for a folder of other files, E_NOT_WRITABLE for a path that cannot hold one. */
export function checkIndexDir(dir: string): IndexDirState {
  const abs = path.resolve(dir);
  let entries: string[];
  try {
    if (!fs.statSync(abs).isDirectory())
      throw new CbirError("E_NOT_WRITABLE", `the index folder '${abs}' is a file, not a folder.`, { file: abs, fix: "give the path of a folder for the index." });
    entries = fs.readdirSync(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw writeError(e, path.join(abs, MARKER_FILE));
    checkOutputDir(abs, "index folder");
    return "new";
  }
  let state: IndexDirState;
  if (entries.includes(MARKER_FILE)) {
    const marker = readMarker(path.join(abs, MARKER_FILE));
    if (marker?.format !== MANIFEST_FORMAT) throw notAnIndex(abs, `holds a ${MARKER_FILE} that is not a cbir index marker`);
    if (!(marker.version <= MANIFEST_VERSION))
      throw new CbirError("E_INDEX_CORRUPT", `index format version ${marker.version} is newer than this toolkit reads (${MANIFEST_VERSION}).`, { file: abs, fix: "update the toolkit, or give another folder." });
    state = "marked";
  } else if (entries.every((f) => isTmpFileOf(f, /^cbir-index\.json$/))) state = "new"; // or its marker is being written by a run started at the same instant
  else if (entries.includes(MANIFEST_FILE) && isLegacyIndex(abs)) state = "legacy";
  else throw notAnIndex(abs, `is not empty and holds no ${MARKER_FILE}`);
  checkOutputDir(abs, "index folder");
  return state;
}

/** Makes `dir` an index folder (created if missing, marker written first); call before writing anything else into it. */
export function claimIndexDir(dir: string, reporter?: Reporter): IndexDirState {
  const state = checkIndexDir(dir);
  if (state === "marked") return state;
  const marker = { format: MANIFEST_FORMAT, version: MANIFEST_VERSION, note: "a cbir-transfer index: `cbir index` rewrites and deletes the files it records here" };
  writeFileAtomicSync(path.join(path.resolve(dir), MARKER_FILE), JSON.stringify(marker) + "\n");
  if (state === "legacy") reporterOf(reporter).info(`marked as a cbir index (made by an earlier version, without ${MARKER_FILE}).`, dir);
  return state;
}

function readMarker(file: string): { format?: unknown; version: number } | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(file, "utf8")) as { format?: unknown; version?: unknown };
    return typeof m === "object" && m !== null && typeof m.version === "number" ? { format: m.format, version: m.version } : undefined;
  } catch {
    return undefined;
  }
}

/** A folder written by a version without markers: its manifest is ours and passes its checksum. */
function isLegacyIndex(dir: string): boolean {
  try {
    return readManifest(dir) !== undefined;
  } catch {
    return false;
  }
}
