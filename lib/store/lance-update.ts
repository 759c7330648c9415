/**
 * Brings a Lance table up to date with a folder's images (or one shard of them), like buildOrUpdateIndex
 * for the folder index: new and changed files (size and time, then sha256) are extracted batch by batch,
 * each batch one merge-insert commit on `id`, so a killed run resumes from its last batch; renamed files
 * (same content) keep their vectors; removed files are deleted, after the new ones are in. A shard
 * (`--shard i/n`, lib/store/shard.ts) looks at, writes and deletes only the ids of its own shard, so n
 * processes can update one table at the same time. Files that fail to decode are reported and retried on
 * the next run (the table stores images only).
 *
 * Post-processing: rows are written with the transform fitted at the last optimize (frozen). An unsharded
 * run optimizes (refits, rewrites the search column, rebuilds the vector index) when asked, when the table
 * was never fitted, or when the rows added, changed or removed since the fit reach AUTO_REFIT_FRACTION of
 * the table; sharded runs never do (one `--optimize` after the last shard). A table of f16 / i8 vectors is
 * also optimized when its codes were never encoded.
 */
import * as fs from "node:fs";
import { CbirError, invalidOption } from "../errors";
import { assertSameFingerprint, type Fingerprint } from "../fingerprint";
import type { Encoding } from "../rank/encoding";
import { fsPath } from "../prepare/names";
import { reporterOf, type Reporter } from "../report";
import type { ImageItem, PostFitter, SkippedFile } from "../types";
import { fileHash, type ExtractFn } from "./index-store";
import { LanceStore, type LanceEntry, type LanceRow } from "./lance-store";
import { inShard, type Shard } from "./shard";
import type { StoreUri } from "./store-uri";

/** Share of the table changed since the last fit above which an unsharded update refits (the folder index always does). */
export const AUTO_REFIT_FRACTION = 0.1;

export interface LanceBuildOptions {
  uri: string | StoreUri;
  /** Fingerprint of the vectors extractFn makes; an existing table must match it. */
  fingerprint: Fingerprint;
  /** Trailing values of each extracted vector that are the colour histogram (0: none). */
  histogramDim?: number;
  root?: string;
  batchSize?: number;
  post?: PostFitter;
  config?: Record<string, string | number | boolean>;
  shard?: Shard;
  /**
   * Encoding of the search vectors (default: the table's, f32 for a new one). f16 / i8 add a codes column
   * at optimize; another encoding than an existing table's is refused unless this run optimizes (which
   * re-encodes, keeping the float32 columns).
   */
  vectors?: Encoding;
  /** true: optimize after the update; false: never; "auto" (default): as the header says. */
  optimize?: boolean | "auto";
  verifyContent?: boolean;
  reporter?: Reporter;
}

export interface LanceBuildResult {
  store?: LanceStore;
  rows: number;
  added: string[];
  changed: string[];
  removed: string[];
  renamed: [string, string][];
  unchanged: number;
  skipped: SkippedFile[];
  optimized: boolean;
}

/**
 * Refuses another encoding than the table's (E_FINGERPRINT_MISMATCH naming both) unless this run
 * optimizes, unsharded, which re-encodes.
 */
export function checkTableEncoding(store: LanceStore, opts: { vectors?: Encoding; optimize?: boolean | "auto"; shard?: Shard }): void {
  if (opts.vectors !== undefined && (opts.optimize !== true || opts.shard)) store.checkVectors(opts.vectors);
}

export async function updateLanceIndex(items: ImageItem[], extractFn: ExtractFn, opts: LanceBuildOptions): Promise<LanceBuildResult> {
  const rep = reporterOf(opts.reporter);
  const batchSize = opts.batchSize ?? 64;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw invalidOption("batchSize", "positive integer", opts.batchSize);
  const names = new Set<string>();
  for (const it of items) {
    if (names.has(it.name)) throw invalidOption("items", "unique names", it.name);
    names.add(it.name);
  }
  const mine = items.filter((it) => inShard(it.name, opts.shard));
  let store = await LanceStore.tryOpen(opts.uri, { fingerprint: opts.fingerprint });
  if (store)
    try {
      checkTableEncoding(store, opts);
    } catch (e) {
      store.close();
      throw e;
    }
  const known = new Map<string, LanceEntry>();
  if (store) for (const e of await store.entries()) if (inShard(e.id, opts.shard)) known.set(e.id, e);

  const byHash = new Map<string, string>();
  for (const e of known.values()) byHash.set(e.sha256, e.id);
  const todo: { item: ImageItem; sha256: string; size: number; mtimeMs: number }[] = [];
  const added: string[] = [];
  const changed: string[] = [];
  const renamed: [string, string][] = [];
  const skipped: SkippedFile[] = [];
  const seen = new Set<string>();
  let unchanged = 0;
  for (const it of mine) {
    let st: fs.Stats;
    try {
      st = fs.statSync(fsPath(it.path));
    } catch (e) {
      skipped.push({ path: it.path, reason: `cannot open (${(e as NodeJS.ErrnoException).code})` });
      continue;
    }
    seen.add(it.name);
    const old = known.get(it.name);
    if (old && !opts.verifyContent && old.size === st.size && old.mtimeMs === st.mtimeMs && old.label === it.label) {
      unchanged++;
      continue;
    }
    let sha256: string;
    try {
      sha256 = fileHash(it.path);
    } catch (e) {
      skipped.push({ path: it.path, reason: `cannot read (${(e as NodeJS.ErrnoException).code})` });
      continue;
    }
    if (old && old.sha256 === sha256 && old.label === it.label && old.size === st.size && old.mtimeMs === st.mtimeMs) {
      unchanged++;
      continue;
    }
    todo.push({ item: it, sha256, size: st.size, mtimeMs: st.mtimeMs });
    if (old) changed.push(it.name);
    else added.push(it.name);
  }
  const gone = [...known.keys()].filter((id) => !seen.has(id));

  // Renames and touched files (same content): the stored vectors are reused, no extraction.
  const goneByHash = new Map(gone.map((id) => [known.get(id)!.sha256, id] as const));
  const reuse: { t: (typeof todo)[number]; from: string }[] = [];
  const extract: typeof todo = [];
  for (const t of todo) {
    const from = known.get(t.item.name)?.sha256 === t.sha256 ? t.item.name : goneByHash.get(t.sha256);
    if (from !== undefined && (from === t.item.name || !reuse.some((r) => r.from === from))) reuse.push({ t, from });
    else extract.push(t);
  }
  if (store && reuse.length) {
    const old = new Map((await store.rowsById(reuse.map((r) => r.from))).map((r) => [r.id, r] as const));
    const rows: LanceRow[] = [];
    for (const { t, from } of reuse) {
      const o = old.get(from);
      if (!o) {
        extract.push(t);
        continue;
      }
      rows.push(rowOf(t, o.raw));
      if (from !== t.item.name) {
        renamed.push([from, t.item.name]);
        added.splice(added.indexOf(t.item.name), 1);
      }
    }
    await store.upsert(rows);
  }

  let done = 0;
  for (let b = 0; b < extract.length; b += batchSize) {
    const batch = extract.slice(b, b + batchSize);
    const { features, skipped: bad } = await extractFn(batch.map((t) => t.item));
    assertSameFingerprint(opts.fingerprint, features.fingerprint);
    skipped.push(...bad);
    done += batch.length;
    rep.progress("index", done, extract.length);
    if (features.ids.length === 0) continue;
    store ??= await LanceStore.openOrCreate(opts.uri, { fingerprint: opts.fingerprint, dim: features.dim, histogramDim: opts.histogramDim, root: opts.root, config: opts.config, post: opts.post, vectors: opts.vectors });
    if (features.dim !== store.meta.dim) throw invalidOption("extracted vector length", `${store.meta.dim} (the table's)`, features.dim);
    const byName = new Map(batch.map((t) => [t.item.name, t] as const));
    const rows = features.ids.map((id, i) => {
      const t = byName.get(id);
      if (!t) throw new CbirError("E_BAD_OPTION", `extractor returned a vector for '${id}', which was not asked for.`, { fix: "return features whose ids are the items' names." });
      return rowOf(t, features.data.subarray(i * features.dim, (i + 1) * features.dim));
    });
    await store.upsert(rows);
  }
  const renamedFrom = new Set(renamed.map(([from]) => from));
  const removed = gone.filter((id) => !renamedFrom.has(id));
  if (store) await store.deleteIds(gone);
  if (!store) {
    if (mine.length === 0 && opts.shard) return { rows: 0, added, changed, removed, renamed, unchanged, skipped, optimized: false };
    throw new CbirError("E_NO_IMAGES", "no usable image to index: every image was skipped.", { file: opts.root, fix: "check the skipped files listed above." });
  }

  let optimized = false;
  const want = opts.optimize ?? "auto";
  if (want === true || (want === "auto" && !opts.shard)) {
    const { rows, sinceFit } = await store.changesSinceFit();
    const wantsFit = (opts.post?.steps.length ?? 0) > 0 || store.meta.postSteps.length > 0;
    // codes are first encoded at an optimize; later rows get the frozen i8 state, as the post-processing
    const wantsCodes = store.meta.vectors !== "f32" && !store.meta.codes;
    const needed = want === true || wantsCodes || (wantsFit && (!store.meta.post || (sinceFit > 0 && sinceFit >= AUTO_REFIT_FRACTION * rows)));
    if (needed && rows > 0) {
      await store.optimize({ post: opts.post, vectors: opts.vectors, reporter: opts.reporter });
      optimized = true;
    }
  }
  const stored = new Set((await store.entries()).map((e) => e.id));
  const inStore = (n: string) => stored.has(n);
  return { store, rows: stored.size, added: added.filter(inStore), changed: changed.filter(inStore), removed, renamed, unchanged, skipped, optimized };
}

function rowOf(t: { item: ImageItem; sha256: string; size: number; mtimeMs: number }, raw: Float32Array): LanceRow {
  const row: LanceRow = { id: t.item.name, path: t.item.path, sha256: t.sha256, size: t.size, mtimeMs: t.mtimeMs, raw };
  if (t.item.label !== undefined) row.label = t.item.label;
  return row;
}
