/**
 * Persistent, incremental index: build once, then update with only the new and changed images.
 * Each batch of new vectors is committed (segment + manifest, both written atomically) as soon as it is
 * computed, so a killed run resumes without recomputing. Changed files (size, time, then sha256) are
 * recomputed, removed ones dropped, renamed ones (same content) keep their vectors. An index made by
 * another pipeline is refused (E_FINGERPRINT_MISMATCH, naming what differs) unless `rebuild` is set; a
 * segment that fails its checksum is reported (E_INDEX_CORRUPT) and its images recomputed.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { CbirError, expectOneOf, invalidOption, isCbirError } from "../errors";
import { assertSameFingerprint, diffFingerprints, sha256, type Fingerprint } from "../fingerprint";
import { isTmpFileOf, writeFileAtomicSync } from "../fsutil";
import { DEFAULT_MAX_BYTES } from "../prepare/decode";
import { fsPath } from "../prepare/names";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix, ImageItem, PostFitter, SkippedFile } from "../types";
import { checkEncodingName, type Encoding } from "../rank/encoding";
import { applyPostprocess, postFromJSON, type FittedPost } from "../reduce/postprocess";
import { acquireLock } from "./lock";
import { JOURNAL_FILE, MANIFEST_FORMAT, MANIFEST_VERSION, SEGMENT_PATTERN, manifestPath, manifestText, readManifest, type IndexManifest, type Segment, type StoredItem, type StoredSkip } from "./manifest";
import { claimIndexDir } from "./marker";
import { ANN_KINDS, indexEncoding, refreshSearchFiles, removeSearchFiles, type AnnKind } from "./search-files";

/**
 * Base names of the files the index writes atomically under its lock: their temporary files are the only
 * `.tmp` files it deletes. Not the marker's: a first run started at the same instant writes it before
 * taking the lock.
 */
const OWN_FILES = /^(manifest\.json|segments\.journal|vectors-\d{6,}\.f32|codes\.(f16|i8)|hnsw\.usearch)$/;

export interface StoredIndex {
  dir: string;
  manifest: IndexManifest;
  /** The vectors as extracted. */
  raw: FeatureMatrix;
  /** After the stored post-processing (the same object as `raw` when there is none). */
  features: FeatureMatrix;
  post?: FittedPost;
  items: ImageItem[];
  labels: Map<string, string>;
  /** Applies the index's post-processing to query vectors made by the same extractor. */
  prepareQueries(q: FeatureMatrix): FeatureMatrix;
}

export interface OpenOptions {
  /** Refuse the index unless its vectors were made by this pipeline. */
  fingerprint?: Fingerprint;
}

function readSegment(dir: string, seg: Segment, dim: number): Float32Array {
  const file = path.join(dir, seg.file);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    throw new CbirError("E_INDEX_CORRUPT", `vector file ${seg.file} is missing.`, { file, fix: "run `cbir index` again: the images of that file are recomputed." });
  }
  if (buf.byteLength !== seg.rows * dim * 4 || sha256(buf) !== seg.sha256)
    throw new CbirError("E_INDEX_CORRUPT", `vector file ${seg.file} fails its checksum (${buf.byteLength} bytes, expected ${seg.rows * dim * 4}).`, {
      file,
      fix: "run `cbir index` again: the images of that file are recomputed.",
    });
  const out = new Float32Array(seg.rows * dim);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

function toStoredIndex(dir: string, manifest: IndexManifest, data: Float32Array): StoredIndex {
  const ids = manifest.items.map((i) => i.name);
  const raw: FeatureMatrix = { ids, dim: manifest.dim, data, fingerprint: manifest.fingerprint };
  const post = manifest.post ? postFromJSON(manifest.post.state) : undefined;
  const features = post ? applyPostprocess(raw, post) : raw;
  const items: ImageItem[] = manifest.items.map((i) => (i.label === undefined ? { path: i.path, name: i.name } : { path: i.path, name: i.name, label: i.label }));
  const labels = new Map<string, string>();
  for (const i of manifest.items) if (i.label !== undefined) labels.set(i.name, i.label);
  return {
    dir,
    manifest,
    raw,
    features,
    post,
    items,
    labels,
    prepareQueries(q) {
      assertSameFingerprint(manifest.fingerprint, q.fingerprint, manifestPath(dir));
      return post ? applyPostprocess(q, post) : q;
    },
  };
}

/** Opens an index read-only, checking every vector file's checksum (E_INDEX_CORRUPT) and, if given, the fingerprint. */
export function openIndex(dir: string, opts: OpenOptions = {}): StoredIndex {
  const manifest = readManifest(dir);
  if (!manifest && isFile(dir)) throw new CbirError("E_NOT_AN_INDEX", `'${dir}' is a file, not an index folder.`, { file: dir, fix: "give the index folder (or the image folder that holds one)." });
  if (!manifest)
    throw new CbirError("E_NO_FOLDER", `'${dir}' holds no index (no ${path.basename(manifestPath(dir))}).`, { file: dir, fix: `build one with \`cbir index <images>\` (it writes <images>/.cbir-index), or \`cbir index <images> --index ${dir}\`.` });
  if (opts.fingerprint) assertSameFingerprint(opts.fingerprint, manifest.fingerprint, manifestPath(dir));
  const data = new Float32Array(manifest.items.length * manifest.dim);
  let off = 0;
  for (const seg of manifest.segments) {
    data.set(readSegment(dir, seg, manifest.dim), off);
    off += seg.rows * manifest.dim;
  }
  return toStoredIndex(dir, manifest, data);
}

function isFile(p: string): boolean {
  try {
    return !fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export type ExtractFn = (items: ImageItem[]) => Promise<{ features: FeatureMatrix; skipped: SkippedFile[] }>;

export interface BuildOptions {
  /** Index folder (created if missing). */
  dir: string;
  /** Fingerprint of the vectors extractFn makes; an existing index must match it. */
  fingerprint: Fingerprint;
  /** Database root, recorded in the manifest. */
  root?: string;
  /** Images extracted and committed together (default 128). */
  batchSize?: number;
  /**
   * The pipeline's post-processing, refitted on all stored vectors after an update that changed them
   * (Pipeline.postFitter). Without it, an index with post-processing refuses the update before any work.
   */
  post?: PostFitter;
  /** Discard an index made by another pipeline instead of refusing it. */
  rebuild?: boolean;
  /** Settings recorded in the manifest (see IndexManifest.config). */
  config?: Record<string, string | number | boolean>;
  /**
   * Encoding of the search vectors (default: the index's, "f32" for a new one). f16 / i8 write codes beside
   * the segments; another encoding than an existing index's is refused unless `rebuild` (which re-encodes,
   * keeping the float32 vectors).
   */
  vectors?: Encoding;
  /** Approximate search structure built at index time (default: what the index had, else "none"). */
  ann?: AnnKind;
  /** Hash every file even when its size and modification time are unchanged (default false). */
  verifyContent?: boolean;
  reporter?: Reporter;
}

export interface BuildResult {
  index: StoredIndex;
  added: string[];
  changed: string[];
  removed: string[];
  /** [old name, new name] pairs whose vectors were reused. */
  renamed: [string, string][];
  unchanged: number;
  skipped: SkippedFile[];
}

/** sha256 of a file read in 1 MB pieces (readFileSync fails above 2 GB and would hold the whole file). */
export function fileHash(file: string): string {
  const h = createHash("sha256");
  const buf = Buffer.alloc(1 << 20);
  const fd = fs.openSync(fsPath(file), "r");
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}

/** The segment files a journal records (only names of the index's own pattern: nothing else is ever deleted). */
function readJournal(dir: string): string[] {
  try {
    return fs.readFileSync(path.join(dir, JOURNAL_FILE), "utf8").split("\n").filter((f) => SEGMENT_PATTERN.test(f));
  } catch {
    return []; // none yet (or unreadable: the segments the manifests name are still known)
  }
}

class Writer {
  manifest: IndexManifest;
  /** Row vectors of the manifest's items, by name. */
  vectors = new Map<string, Float32Array>();
  private seq = 0;

  constructor(
    readonly dir: string,
    fingerprint: Fingerprint,
    dim: number,
    root: string | undefined,
    /** Segment files this index created and has not deleted (journal and manifests): the only ones clean-up removes. */
    private readonly recorded: Set<string>,
  ) {
    const now = new Date().toISOString();
    this.manifest = { format: MANIFEST_FORMAT, version: MANIFEST_VERSION, fingerprint, dim, root, items: [], segments: [], skipped: [], createdAt: now, updatedAt: now };
  }

  /** A fresh segment name, recorded in the journal before the file exists. */
  newSegment(): string {
    const used = new Set(fs.readdirSync(this.dir));
    let name: string;
    do name = `vectors-${String(++this.seq).padStart(6, "0")}.f32`;
    while (used.has(name) || this.recorded.has(name));
    this.recorded.add(name);
    writeFileAtomicSync(path.join(this.dir, JOURNAL_FILE), [...this.recorded].join("\n") + "\n");
    return name;
  }

  /** Writes rows as a new segment and commits the manifest that names it. */
  appendSegment(items: StoredItem[], data: Float32Array): void {
    if (items.length === 0) return;
    const file = this.newSegment();
    writeFileAtomicSync(path.join(this.dir, file), new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.manifest.segments.push({ file, rows: items.length, sha256: sha256(data) });
    this.manifest.items.push(...items);
    items.forEach((it, i) => this.vectors.set(it.name, data.subarray(i * this.manifest.dim, (i + 1) * this.manifest.dim)));
    this.commit(file);
  }

  /** Rewrites all rows, in `order`, as one segment (drops removed rows, orders rows like the folder). */
  compact(order: StoredItem[]): void {
    const dim = this.manifest.dim;
    const data = new Float32Array(order.length * dim);
    order.forEach((it, i) => data.set(this.vectors.get(it.name)!, i * dim));
    const file = order.length ? this.newSegment() : undefined;
    if (file) writeFileAtomicSync(path.join(this.dir, file), new Uint8Array(data.buffer));
    this.manifest.segments = file ? [{ file, rows: order.length, sha256: sha256(data) }] : [];
    this.manifest.items = order;
    this.vectors = new Map(order.map((it, i) => [it.name, data.subarray(i * dim, (i + 1) * dim)] as const));
    this.commit(file);
  }

  /** Replaces the manifest; when that fails, the segment just written for it is removed and the previous manifest stands. */
  commit(newSegment?: string): void {
    this.manifest.updatedAt = new Date().toISOString();
    try {
      writeFileAtomicSync(manifestPath(this.dir), manifestText(this.manifest));
    } catch (e) {
      if (newSegment) this.remove(newSegment);
      throw e;
    }
    this.removeOrphans();
  }

  /**
   * Deletes the recorded segments the manifest no longer names (replaced by compaction, or left by a killed
   * run) and the index's own temporary files. Best effort: what stays is retried by the next run.
   */
  removeOrphans(): void {
    const named = new Set(this.manifest.segments.map((s) => s.file));
    for (const f of [...this.recorded]) if (!named.has(f)) this.remove(f);
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      // nothing to tidy that can be listed
    }
    for (const f of names) if (isTmpFileOf(f, OWN_FILES)) this.remove(f);
  }

  private remove(file: string): void {
    try {
      fs.rmSync(path.join(this.dir, file), { force: true });
      this.recorded.delete(file);
    } catch {
      // kept in the journal: the next run tries again
    }
  }
}

/**
 * Brings the index in `opts.dir` up to date with `items`: new and changed images are extracted with
 * `extractFn` in batches (each committed on completion), removed ones dropped, then the optional
 * post-processing is refitted on all vectors.
 */
export async function buildOrUpdateIndex(items: ImageItem[], extractFn: ExtractFn, opts: BuildOptions): Promise<BuildResult> {
  const rep = reporterOf(opts.reporter);
  const batchSize = opts.batchSize ?? 128;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw invalidOption("batchSize", "positive integer", opts.batchSize);
  if (opts.vectors !== undefined) checkEncodingName(opts.vectors);
  if (opts.ann !== undefined) expectOneOf("ann", opts.ann, ANN_KINDS);
  const names = new Set<string>();
  for (const it of items) {
    if (names.has(it.name)) throw invalidOption("items", "unique names", it.name);
    names.add(it.name);
  }
  claimIndexDir(opts.dir, opts.reporter); // refuses a folder of other files before anything is written to it
  const lock = acquireLock(opts.dir, opts.reporter);
  try {
    return await update(items, extractFn, opts, batchSize, rep);
  } finally {
    lock.release();
  }
}

async function update(items: ImageItem[], extractFn: ExtractFn, opts: BuildOptions, batchSize: number, rep: ReturnType<typeof reporterOf>): Promise<BuildResult> {
  const dir = opts.dir;
  let old: IndexManifest | undefined;
  try {
    old = readManifest(dir);
  } catch (e) {
    if (!isCbirError(e) || e.code !== "E_INDEX_CORRUPT") throw e;
    rep.warn(`${e.message} Rebuilding the index.`, manifestPath(dir));
  }
  const recorded = new Set([...readJournal(dir), ...(old?.segments ?? []).map((s) => s.file).filter((f) => SEGMENT_PATTERN.test(f))]);
  // the search vectors' encoding is part of their fingerprint: another one is refused unless rebuilding
  const encoding = opts.vectors ?? (old ? indexEncoding(old) : "f32");
  if (old && indexEncoding(old) !== encoding && !opts.rebuild)
    throw new CbirError("E_FINGERPRINT_MISMATCH", `the index's search vectors are encoded as ${indexEncoding(old)} but ${encoding} was asked for.`, {
      file: manifestPath(dir),
      fix: `pass --vectors ${indexEncoding(old)}, or --rebuild to re-encode them as ${encoding} (the float32 vectors are kept).`,
    });
  // the index never fits anything itself: an update of one with post-processing needs the pipeline's
  if (old?.post && !opts.post && !opts.rebuild)
    throw new CbirError("E_BAD_OPTION", `the index's post-processing (${old.post.steps.join(",")}) is refitted on every update that changes its vectors, and no fitter was given.`, {
      file: manifestPath(dir),
      fix: "pass the pipeline's post-processing (Pipeline.postFitter), as indexFolder does.",
    });
  const ann: AnnKind = opts.ann ?? (old?.ann ? "hnsw" : "none");
  const derived = old ? { codes: old.codes, ann: old.ann } : {};
  if (old && old.fingerprint.id !== opts.fingerprint.id) {
    if (!opts.rebuild) assertSameFingerprint(old.fingerprint, opts.fingerprint, manifestPath(dir));
    rep.info(`rebuilding: the index was made by another pipeline (${diffFingerprints(old.fingerprint, opts.fingerprint).join("; ")}).`, manifestPath(dir));
    old = undefined;
  }

  // Known vectors, by name, from the segments that pass their checksum.
  const known = new Map<string, { item: StoredItem; vector: Float32Array }>();
  let dim = old?.dim ?? 0;
  let dropped = 0;
  if (old) {
    let row = 0;
    for (const seg of old.segments) {
      const segItems = old.items.slice(row, row + seg.rows);
      row += seg.rows;
      try {
        const data = readSegment(dir, seg, old.dim);
        segItems.forEach((it, i) => known.set(it.name, { item: it, vector: data.subarray(i * old!.dim, (i + 1) * old!.dim) }));
      } catch (e) {
        if (!isCbirError(e)) throw e;
        rep.warn(`${e.message} Its ${seg.rows} images are recomputed.`, path.join(dir, seg.file));
        dropped += seg.rows;
      }
    }
  }

  // Classify the folder's images against what the index knows.
  const byHash = new Map<string, string>(); // sha256 -> known name, for rename detection
  for (const k of known.values()) byHash.set(k.item.sha256, k.item.name);
  const oldSkips = new Map((old?.skipped ?? []).map((s) => [s.name, s] as const));
  const keep: StoredItem[] = [];
  const todo: { item: ImageItem; stored: StoredItem }[] = [];
  const added: string[] = [];
  const changed: string[] = [];
  const renamed: [string, string][] = [];
  const skipped: SkippedFile[] = [];
  const stillSkipped: StoredSkip[] = [];
  const reuse = new Map<string, Float32Array>();
  const claimed = new Set<string>();
  for (const it of items) {
    let st: fs.Stats;
    try {
      st = fs.statSync(fsPath(it.path));
    } catch (e) {
      skipped.push({ path: it.path, reason: `cannot open (${(e as NodeJS.ErrnoException).code})` });
      continue;
    }
    const prevSkip = oldSkips.get(it.name);
    if (prevSkip && prevSkip.size === st.size && prevSkip.mtimeMs === st.mtimeMs) {
      skipped.push({ path: it.path, reason: prevSkip.reason });
      stillSkipped.push(prevSkip);
      continue;
    }
    const prev = known.get(it.name);
    const base = { name: it.name, path: it.path, ...(it.label !== undefined ? { label: it.label } : {}), size: st.size, mtimeMs: st.mtimeMs };
    if (prev && !opts.verifyContent && prev.item.size === st.size && prev.item.mtimeMs === st.mtimeMs) {
      keep.push({ ...base, sha256: prev.item.sha256 });
      reuse.set(it.name, prev.vector);
      claimed.add(it.name);
      continue;
    }
    // not worth hashing what the decoder refuses unread; remembered like any skip so it is not retried
    const refusal = !st.isFile() ? "not a regular file" : st.size > DEFAULT_MAX_BYTES ? `file too large (${st.size} bytes, limit ${DEFAULT_MAX_BYTES})` : undefined;
    let hash = "";
    try {
      if (!refusal) hash = fileHash(it.path);
    } catch (e) {
      skipped.push({ path: it.path, reason: `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` });
      continue;
    }
    if (refusal) {
      skipped.push({ path: it.path, reason: refusal });
      stillSkipped.push({ name: it.name, path: it.path, size: st.size, mtimeMs: st.mtimeMs, reason: refusal });
      continue;
    }
    if (prev && prev.item.sha256 === hash) {
      keep.push({ ...base, sha256: hash });
      reuse.set(it.name, prev.vector);
      claimed.add(it.name);
      continue;
    }
    const from = byHash.get(hash);
    if (!prev && from !== undefined && !names(items).has(from) && !claimed.has(from)) {
      keep.push({ ...base, sha256: hash });
      reuse.set(it.name, known.get(from)!.vector);
      claimed.add(from);
      renamed.push([from, it.name]);
      continue;
    }
    (prev ? changed : added).push(it.name);
    todo.push({ item: it, stored: { ...base, sha256: hash } });
  }
  for (const s of skipped) rep.warn(`skipped ${s.reason}`, s.path); // printed while the run goes, as the extraction's own skips
  const present = names(items);
  const removed = [...known.keys()].filter((n) => !present.has(n) && !renamed.some(([f]) => f === n));
  const unchanged = keep.length - renamed.length;
  rep.log(`index ${dir}: ${unchanged} unchanged, ${added.length} new, ${changed.length} changed, ${removed.length} removed, ${renamed.length} renamed${dropped ? `, ${dropped} to recompute from a corrupt file` : ""}`);

  if (dim === 0 && todo.length === 0 && keep.length === 0)
    throw new CbirError("E_NO_IMAGES", "no usable image to index.", { file: opts.root ?? dir, fix: "check the folder and the skipped files listed above." });

  // Start from the kept rows: one compacted segment when anything was dropped, else the old segments as they are.
  let writer: Writer | undefined;
  const ensureWriter = (d: number) => {
    if (writer) return writer;
    writer = new Writer(dir, opts.fingerprint, d, opts.root, recorded);
    if (old) writer.manifest.createdAt = old.createdAt;
    writer.manifest.skipped = stillSkipped;
    if (old?.post) writer.manifest.post = old.post;
    // kept while segments are committed (stale, so unused, once they change); refreshed at the end
    if (derived.codes) writer.manifest.codes = derived.codes;
    if (derived.ann) writer.manifest.ann = derived.ann;
    const untouched = old && dropped === 0 && removed.length === 0 && changed.length === 0 && renamed.length === 0 && keep.length === old.items.length;
    if (untouched) {
      writer.manifest.items = [...old!.items];
      writer.manifest.segments = [...old!.segments];
      for (const it of old!.items) writer.vectors.set(it.name, known.get(it.name)!.vector);
      // refresh the recorded times of files touched without a content change
      const fresh = new Map(keep.map((k) => [k.name, k] as const));
      writer.manifest.items = writer.manifest.items.map((it) => fresh.get(it.name) ?? it);
    } else {
      for (const k of keep) writer.vectors.set(k.name, reuse.get(k.name)!);
      writer.compact(keep);
    }
    return writer;
  };
  if (dim > 0) ensureWriter(dim);

  // Extract and commit the new and changed images batch by batch.
  let done = 0;
  const newSkips: StoredSkip[] = [];
  for (let b = 0; b < todo.length; b += batchSize) {
    const batch = todo.slice(b, b + batchSize);
    const { features, skipped: bad } = await extractFn(batch.map((t) => t.item));
    assertSameFingerprint(opts.fingerprint, features.fingerprint);
    for (const s of bad) {
      skipped.push(s);
      const t = batch.find((x) => x.item.path === s.path);
      if (t) newSkips.push({ name: t.item.name, path: t.item.path, size: t.stored.size, mtimeMs: t.stored.mtimeMs, reason: s.reason });
    }
    done += batch.length;
    rep.progress("index", done, todo.length);
    if (features.ids.length === 0) continue;
    if (dim === 0) dim = features.dim;
    const w = ensureWriter(dim);
    if (features.dim !== dim) throw invalidOption("extracted vector length", `${dim} (the index's)`, features.dim);
    w.manifest.skipped.push(...newSkips.splice(0));
    const byName = new Map(batch.map((t) => [t.item.name, t.stored] as const));
    const rows: StoredItem[] = features.ids.map((id) => {
      const s = byName.get(id);
      if (!s) throw new CbirError("E_BAD_OPTION", `extractor returned a vector for '${id}', which was not asked for.`, { fix: "return features whose ids are the items' names." });
      return s;
    });
    w.appendSegment(rows, features.data);
  }
  if (!writer) throw new CbirError("E_NO_IMAGES", "no usable image to index: every image was skipped.", { file: opts.root ?? dir, fix: "check the skipped files listed above." });
  const w: Writer = writer;
  w.manifest.skipped.push(...newSkips);

  // Final layout: one segment, rows in the folder's order; then the post-processing, refitted if anything changed.
  const order = items.map((it) => it.name).filter((n) => w.vectors.has(n));
  const inOrder = w.manifest.segments.length === 1 && order.length === w.manifest.items.length && order.every((n, i) => w.manifest.items[i].name === n);
  if (!inOrder) w.compact(order.map((n) => w.manifest.items.find((it) => it.name === n)!));
  const anyChange = todo.length > 0 || removed.length > 0 || renamed.length > 0 || dropped > 0 || !old;
  const stepLabels = opts.post?.steps.join(",");
  const samePost = old?.post && stepLabels === old.post.steps.join(",");
  if (opts.post && stepLabels && (anyChange || !samePost)) {
    const raw: FeatureMatrix = { ids: w.manifest.items.map((i) => i.name), dim, data: concatRows(w), fingerprint: opts.fingerprint };
    const j = opts.post.fit(raw).fitted.toJSON();
    w.manifest.post = { steps: [...j.steps], state: j.state, fingerprint: j.fingerprint };
  } else if (!stepLabels) delete w.manifest.post;
  w.manifest.root = opts.root ?? w.manifest.root;
  if (opts.config) w.manifest.config = { ...opts.config };
  else if (old?.config) w.manifest.config = old.config;
  const post = w.manifest.post ? postFromJSON(w.manifest.post.state) : undefined;
  const searchRows = (): FeatureMatrix => {
    const raw: FeatureMatrix = { ids: w.manifest.items.map((i) => i.name), dim, data: concatRows(w), fingerprint: opts.fingerprint };
    return post ? applyPostprocess(raw, post) : raw;
  };
  const obsolete = await refreshSearchFiles(dir, w.manifest, searchRows, { vectors: encoding, ann, force: opts.rebuild, reporter: opts.reporter });
  w.commit();
  removeSearchFiles(dir, obsolete, w.manifest);
  // images that failed to decode were attempted, not added: they are reported as skipped only
  const stored = (n: string) => w.vectors.has(n);
  return { index: toStoredIndex(dir, w.manifest, concatRows(w)), added: added.filter(stored), changed: changed.filter(stored), removed, renamed, unchanged, skipped };
}

function concatRows(w: Writer): Float32Array {
  const dim = w.manifest.dim;
  const data = new Float32Array(w.manifest.items.length * dim);
  w.manifest.items.forEach((it, i) => data.set(w.vectors.get(it.name)!, i * dim));
  return data;
}

const nameCache = new WeakMap<ImageItem[], Set<string>>();
function names(items: ImageItem[]): Set<string> {
  let s = nameCache.get(items);
  if (!s) nameCache.set(items, (s = new Set(items.map((i) => i.name))));
  return s;
}
