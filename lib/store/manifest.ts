/**
 * The on-disk layout of an index folder:
 *   cbir-index.json      the marker (marker.ts): written first; a non-empty folder without it is never written
 *   manifest.json        what is in the index (below), rewritten atomically after every committed batch,
 *                        ending with the sha256 of everything before it (a damaged, edited or checksum-less
 *                        manifest is refused)
 *   vectors-<n>.f32      row-major float32 segments; each batch of new images is one segment, and a finished
 *                        run compacts them into a single file; every segment has its sha256 in the manifest
 *   codes.f16, codes.i8  with `--vectors f16|i8`: the search vectors (post-processed, L2-normalised, encoded;
 *                        rows in manifest order), derived from the segments and rebuilt from them whenever
 *                        they or the post-processing change, or the file fails its sha256 (`codes` below)
 *   hnsw.usearch         with `--ann hnsw`: a usearch HNSW graph over the search vectors (`ann` below), derived
 *                        the same way; both are written atomically after the final segment is committed
 *   segments.journal     every segment file the index has created and not yet deleted, rewritten before each
 *                        new one is written, so a segment left by a killed run is still known to be the index's
 *   index.lock           the current writer (lock.ts)
 * A run killed between two commits leaves the last manifest and the segments it names: the next run
 * resumes from there, deleting the segments the journal or an earlier manifest recorded that the manifest
 * no longer names, and its own temporary files (by their exact name pattern), never any other file.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CbirError } from "../errors";
import { sha256, type Fingerprint } from "../fingerprint";
import type { Encoding, I8State } from "../rank/encoding";
import type { FittedPostJSON } from "../reduce/postprocess";

export const MANIFEST_FILE = "manifest.json";
export const MANIFEST_FORMAT = "cbir-index";
export const MANIFEST_VERSION = 1;
export const SEGMENT_PATTERN = /^vectors-(\d+)\.f32$/;
export const JOURNAL_FILE = "segments.journal";
/** The derived search files: codes of one encoding, the HNSW graph. */
export const CODES_PATTERN = /^codes\.(f16|i8)$/;
export const HNSW_FILE = "hnsw.usearch";

/** Where `cbir index <folder>` keeps the folder's index when no --index is given. */
export function defaultIndexDir(folder: string): string {
  return path.join(path.resolve(folder), ".cbir-index");
}

export interface StoredItem {
  /** Path relative to the database root (the id). */
  name: string;
  /** Absolute path when indexed. */
  path: string;
  label?: string;
  sha256: string;
  size: number;
  mtimeMs: number;
}

export interface StoredSkip {
  name: string;
  path: string;
  size: number;
  mtimeMs: number;
  reason: string;
}

export interface Segment {
  file: string;
  rows: number;
  sha256: string;
}

export interface IndexManifest {
  format: typeof MANIFEST_FORMAT;
  version: number;
  /** Fingerprint of the stored (raw, extracted) vectors. */
  fingerprint: Fingerprint;
  dim: number;
  root?: string;
  /** In row order: segment 0's rows, then segment 1's... */
  items: StoredItem[];
  segments: Segment[];
  /** Files that could not be used, remembered so unchanged ones are not retried on every update. */
  skipped: StoredSkip[];
  /** Post-processing fitted on the stored vectors; `fingerprint` is that of the post-processed vectors. */
  post?: { steps: string[]; state: FittedPostJSON; fingerprint: Fingerprint };
  /**
   * The encoded search vectors (f16 / i8; absent for f32, whose search vectors are the segments'). `source`
   * is searchSource() of the vectors they were encoded from: a manifest whose segments or post-processing
   * changed since (a run killed before re-encoding) has stale codes, which are not used.
   */
  codes?: { file: string; encoding: Exclude<Encoding, "f32">; dim: number; count: number; state: I8State | null; sha256: string; source: string; fingerprint: Fingerprint };
  /** The HNSW graph over the search vectors, its parameters and recall@10 against exact search when it was built. */
  ann?: {
    kind: "hnsw";
    file: string;
    scalar: Encoding;
    connectivity: number;
    expansionAdd: number;
    expansionSearch: number;
    sha256: string;
    /** searchSource() of the vectors, with the scalar kind. */
    source: string;
    recallAt10: number;
    recallQueries: number;
  };
  /** The settings the index was built with (model name, layer, pooling...), so queries can reuse them. */
  config?: Record<string, string | number | boolean>;
  createdAt: string;
  updatedAt: string;
  /** sha256 of the manifest's JSON without this field; a manifest without it is refused as damaged. */
  checksum?: string;
}

export function manifestPath(dir: string): string {
  return path.join(dir, MANIFEST_FILE);
}

/** The manifest's text, with its checksum (computed over the same text without it) as the last field. */
export function manifestText(m: IndexManifest): string {
  const { checksum: _old, ...body } = m;
  return JSON.stringify({ ...body, checksum: sha256(JSON.stringify(body)) });
}

/** undefined when the folder has no manifest; E_INDEX_CORRUPT when it has one that cannot be read. */
export function readManifest(dir: string): IndexManifest | undefined {
  const file = manifestPath(dir);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    // ENOTDIR: the "folder" is a file, so it holds no index either
    if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw e;
  }
  let m: IndexManifest;
  try {
    m = JSON.parse(text) as IndexManifest;
  } catch (e) {
    throw new CbirError("E_INDEX_CORRUPT", `index manifest is not valid JSON (${(e as Error).message}).`, { file, fix: "delete the index folder; it is rebuilt." });
  }
  // JSON.parse keeps the key order and JSON numbers round-trip, so the body re-serialises to the hashed text
  const { checksum, ...body } = (m ?? {}) as IndexManifest;
  if (checksum === undefined)
    throw new CbirError("E_INDEX_CORRUPT", "index manifest has no checksum (damaged, or written before checksums existed).", { file, fix: "run `cbir index` again: it is rebuilt." });
  if (checksum !== sha256(JSON.stringify(body)))
    throw new CbirError("E_INDEX_CORRUPT", "index manifest fails its checksum (damaged or edited on disk).", { file, fix: "run `cbir index` again: it is rebuilt." });
  const rows = Array.isArray(m?.segments) ? m.segments.reduce((s, g) => s + g.rows, 0) : -1;
  if (m?.format !== MANIFEST_FORMAT || !Array.isArray(m.items) || rows !== m.items.length || !m.fingerprint?.id || !(m.dim >= 1))
    throw new CbirError("E_INDEX_CORRUPT", "index manifest is incomplete or not a cbir index.", { file, fix: "delete the index folder; it is rebuilt." });
  if (m.version > MANIFEST_VERSION)
    throw new CbirError("E_INDEX_CORRUPT", `index format version ${m.version} is newer than this toolkit reads (${MANIFEST_VERSION}).`, { file, fix: "update the toolkit, or rebuild the index." });
  m.skipped ??= [];
  return m;
}
