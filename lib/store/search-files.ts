/**
 * The search side of an index folder: the encoded search vectors (`--vectors f16|i8`, file codes.<enc>) and
 * the HNSW graph (`--ann hnsw`, file hnsw.usearch). Both are derived from the float32 segments and the
 * fitted post-processing, so nothing stored is lost when one is damaged: a file that fails its sha256, or
 * was made from other vectors (its `source`), is rebuilt by `cbir index` and, until then, re-encoded in
 * memory (codes) or skipped for exact search (graph) by `cbir query` (search-open.ts), with a warning.
 *
 * Search vectors are the stored vectors after the post-processing, L2-normalised, then encoded
 * (encodeForCosine; i8 fits its per-dimension state on them).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CbirError, expectOneOf, invalidOption } from "../errors";
import { extendFingerprint, sha256, type Fingerprint } from "../fingerprint";
import { replaceFileAtomicSync, writeFileAtomicSync } from "../fsutil";
import { checkEncodedVectors, checkEncodingName, decodeRows, decodeVectors, type Codes, type Encoding, type EncodedVectors } from "../rank/encoding";
import { expandQueries, expansionFromRankings, expansionOptions } from "../rank/rerank";
import { vectorMetric } from "../rank/metrics/index";
import { encodeForCosine, normaliseRows, rowReader, type RowReader } from "../rank/encoded-search";
import { HnswIndex } from "../rank/hnsw";
import { ExactIndex } from "../rank/exact";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix, Ranking } from "../types";
import { CODES_PATTERN, HNSW_FILE, type IndexManifest } from "./manifest";

export const ANN_KINDS = ["none", "hnsw"] as const;
export type AnnKind = (typeof ANN_KINDS)[number];

/** The graph's parameters (usearch's M, efConstruction, efSearch): the bench's, recall@10 about 0.99 on real features. */
export const HNSW_PARAMS = { connectivity: 16, expansionAdd: 128, expansionSearch: 64 } as const;
/** Rows of the index used as queries for the recall reported when the graph is built. */
export const RECALL_QUERIES = 200;

export function codesFile(encoding: Exclude<Encoding, "f32">): string {
  return `codes.${encoding}`;
}

/** The search vectors' encoding: f32 unless the manifest names codes. */
export function indexEncoding(m: IndexManifest): Encoding {
  return m.codes?.encoding ?? "f32";
}

/** What the search vectors are made from: the segments' checksums in row order and the fitted post-processing. */
export function searchSource(m: IndexManifest): string {
  return sha256(JSON.stringify({ segments: m.segments.map((s) => s.sha256), rows: m.items.length, post: m.post?.fingerprint.id ?? null })).slice(0, 32);
}

/** Fingerprint of the ranked vectors: the post-processed vectors', with the encoding added unless f32 (so f32 indexes keep theirs). */
export function searchFingerprint(m: IndexManifest, encoding: Encoding = indexEncoding(m)): Fingerprint {
  const base = m.post?.fingerprint ?? m.fingerprint;
  return encoding === "f32" ? base : extendFingerprint(base, { extra: { vectors: encoding } });
}

function codesBytes(codes: Codes): Uint8Array {
  return new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength);
}

/** Codes of `values` entries from file bytes, copied into an aligned buffer of their own. */
function codesOf(encoding: Exclude<Encoding, "f32">, buf: Uint8Array, values: number): Codes {
  const out = encoding === "f16" ? new Uint16Array(values) : new Int8Array(values);
  new Uint8Array(out.buffer).set(buf.subarray(0, out.byteLength));
  return out;
}

/** The stored codes, or why they cannot be used (missing, stale, wrong size, failing the checksum). */
export function readCodes(dir: string, m: IndexManifest): { vectors: EncodedVectors } | { problem: string } {
  const c = m.codes;
  if (!c) return { problem: "the manifest names no codes" };
  if (c.source !== searchSource(m)) return { problem: `${c.file} was encoded from other vectors (an update did not finish)` };
  let buf: Buffer;
  try {
    buf = fs.readFileSync(path.join(dir, c.file));
  } catch {
    return { problem: `${c.file} is missing` };
  }
  const values = c.count * c.dim;
  if (buf.byteLength !== values * (c.encoding === "f16" ? 2 : 1) || sha256(buf) !== c.sha256) return { problem: `${c.file} fails its checksum` };
  try {
    return { vectors: checkEncodedVectors({ encoding: c.encoding, dim: c.dim, count: c.count, state: c.state, codes: codesOf(c.encoding, buf, values) }) };
  } catch (e) {
    return { problem: `${c.file}: ${(e as Error).message}` };
  }
}

/** The stored graph's file, checked against the manifest (checksum, vectors, parameters), or why it cannot be used. */
export function checkHnswFile(dir: string, m: IndexManifest, scalar: Encoding): { file: string } | { problem: string } {
  const a = m.ann;
  if (!a) return { problem: "the manifest names no graph" };
  if (a.source !== `${searchSource(m)}:${scalar}` || a.scalar !== scalar) return { problem: `${a.file} was built from other vectors (an update did not finish)` };
  if (a.connectivity !== HNSW_PARAMS.connectivity || a.expansionAdd !== HNSW_PARAMS.expansionAdd || a.expansionSearch !== HNSW_PARAMS.expansionSearch)
    return { problem: `${a.file} was built with other parameters` };
  const file = path.join(dir, a.file);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return { problem: `${a.file} is missing` };
  }
  if (sha256(buf) !== a.sha256) return { problem: `${a.file} fails its checksum` };
  return { file };
}

/** "HNSW graph (usearch, i8 scalars, M 16, ef 128/64)". */
export function hnswLabel(a: NonNullable<IndexManifest["ann"]>): string {
  return `HNSW graph (usearch, ${a.scalar} scalars, M ${a.connectivity}, ef ${a.expansionAdd}/${a.expansionSearch})`;
}

export function hnswOptions(scalar: Encoding) {
  return { metric: "cosine" as const, quantization: scalar, ...HNSW_PARAMS };
}

export interface RefreshOptions {
  vectors: Encoding;
  ann: AnnKind;
  /** Rewrite both files even when they are current (`--rebuild`). */
  force?: boolean;
  reporter?: Reporter;
}

/**
 * Index time, after the last segment is committed: brings the codes and the graph of `m` (mutated) up to
 * date with its vectors. `features` gives the post-processed rows (computed only when something is
 * rebuilt). Returns the derived files `m` no longer names, to delete once it is committed.
 */
export async function refreshSearchFiles(dir: string, m: IndexManifest, features: () => FeatureMatrix, opts: RefreshOptions): Promise<string[]> {
  const rep = reporterOf(opts.reporter);
  const encoding = checkEncodingName(opts.vectors);
  const ann = expectOneOf("ann", opts.ann, ANN_KINDS);
  const source = searchSource(m);
  let feats: FeatureMatrix | undefined;
  const getFeatures = () => (feats ??= features());
  const obsolete: string[] = [];

  // the codes
  let vectors: EncodedVectors | undefined;
  if (encoding === "f32") {
    if (m.codes) obsolete.push(m.codes.file);
    delete m.codes;
  } else {
    const current = m.codes?.encoding === encoding && !opts.force ? readCodes(dir, m) : undefined;
    if (current && "vectors" in current) vectors = current.vectors;
    else {
      // `"problem" in` narrows under tslab's non-strict TypeScript 5.0, where the else branch does not
      if (current && "problem" in current && m.codes && m.codes.source === source) rep.warn(`${current.problem}: re-encoding the search vectors from the float32 segments.`, path.join(dir, m.codes.file));
      if (m.codes && m.codes.encoding !== encoding) obsolete.push(m.codes.file);
      const f = getFeatures();
      vectors = encodeForCosine(encoding, f.data, f.ids.length, f.dim);
      const file = codesFile(encoding);
      writeFileAtomicSync(path.join(dir, file), codesBytes(vectors.codes));
      m.codes = { file, encoding, dim: vectors.dim, count: vectors.count, state: vectors.state, sha256: sha256(vectors.codes), source, fingerprint: searchFingerprint(m, encoding) };
    }
  }

  // the graph, over the same scalars as the codes
  if (ann === "none") {
    if (m.ann) obsolete.push(m.ann.file);
    delete m.ann;
    return obsolete;
  }
  const checked = m.ann && !opts.force ? checkHnswFile(dir, m, encoding) : undefined;
  if (checked && "file" in checked) return obsolete;
  if (checked && "problem" in checked && m.ann && m.ann.source === `${source}:${encoding}`) rep.warn(`${checked.problem}: rebuilding the HNSW graph.`, path.join(dir, m.ann.file));
  const f = getFeatures();
  const n = f.ids.length;
  const fp = searchFingerprint(m, encoding);
  // the graph holds the vectors the exact search ranks: the decoded codes, or the normalised float32 rows
  const data = vectors ? decodeVectors(vectors) : normaliseRows(f.data, n, f.dim);
  const graph = HnswIndex.build({ ids: f.ids, dim: f.dim, data, fingerprint: fp }, hnswOptions(encoding));
  const file = path.join(dir, HNSW_FILE);
  replaceFileAtomicSync(file, (tmp) => graph.save(tmp));
  const searchable: GraphSource = {
    ids: f.ids,
    dim: f.dim,
    hnsw: graph,
    vectors: () => vectors ?? encodeForCosine("f32", f.data, n, f.dim),
    rows: rowReader(f.data, f.dim),
  };
  const recall = await graphRecall(searchable, { ids: f.ids, dim: f.dim, data: f.data, fingerprint: fp });
  m.ann = { kind: "hnsw", file: HNSW_FILE, scalar: encoding, ...HNSW_PARAMS, sha256: sha256(fs.readFileSync(file)), source: `${source}:${encoding}`, recallAt10: recall.recall, recallQueries: recall.queries };
  rep.info(`${hnswLabel(m.ann)}: recall@10 ${recall.recall.toFixed(3)} against exact float32 search (${recall.queries} of the index's rows as queries, each leaving itself out)`, file);
  return obsolete;
}

/**
 * Recall@10 of the graph search (as `cbir query` runs it, without refine or expansion) against exact
 * float32 cosine search (ExactIndex), with up to RECALL_QUERIES of the index's own rows (evenly spaced) as
 * queries, each leaving itself out, as the bench measures it.
 */
async function graphRecall(graph: GraphSource, exact: FeatureMatrix): Promise<{ recall: number; queries: number }> {
  const n = exact.ids.length;
  const nQ = Math.min(n, RECALL_QUERIES);
  const d = exact.dim;
  const rows = Array.from({ length: nQ }, (_, i) => Math.floor((i * n) / nQ));
  const q = new Float32Array(nQ * d);
  rows.forEach((r, i) => q.set(exact.data.subarray(r * d, (r + 1) * d), i * d));
  const queries: FeatureMatrix = { ids: rows.map((r) => exact.ids[r]), dim: d, data: q, fingerprint: exact.fingerprint };
  const index = await ExactIndex.create(exact, { metric: "cosine" });
  let truth;
  try {
    truth = await index.search(queries, { k: 11 });
  } finally {
    await index.dispose();
  }
  const approx = await searchGraph(graph, queries, { k: 11 });
  const others = (hits: { id: string }[], self: string) => hits.filter((h) => h.id !== self).slice(0, 10).map((h) => h.id);
  let hits = 0;
  let total = 0;
  truth.forEach((r, i) => {
    const want = new Set(others(r.hits, r.query));
    total += want.size;
    hits += others(approx[i].hits, r.query).filter((id) => want.has(id)).length;
  });
  return { recall: total ? hits / total : 1, queries: nQ };
}

/** Removes derived files the committed manifest no longer names (only the index's own names). */
export function removeSearchFiles(dir: string, files: string[], m: IndexManifest): void {
  const named = new Set([m.codes?.file, m.ann?.file]);
  for (const f of files)
    if (!named.has(f) && (CODES_PATTERN.test(f) || f === HNSW_FILE))
      try {
        fs.rmSync(path.join(dir, f), { force: true });
      } catch {
        // left behind: named by no manifest, so never read
      }
}

export interface GraphSearchOptions {
  k: number;
  /** Query expansion with the top n hits (0 = off): the neighbours' vectors are decoded from the codes. */
  queryExpansion?: number;
  queryExpansionAlpha?: number;
  /** Re-score the graph's best refine x k with the float32 rows (default 1 = off). */
  refine?: number;
  labels?: Map<string, string>;
  queryLabels?: Map<string, string>;
}

/** What a graph search reads: the graph, the row ids, the codes (query expansion, i8 re-scoring) and the float32 rows (refine). */
export interface GraphSource {
  ids: string[];
  dim: number;
  hnsw?: HnswIndex;
  vectors(): EncodedVectors;
  rows: RowReader;
}

/**
 * Candidates per hit an i8 graph re-scores with the codes: usearch quantises each row to i8 itself as
 * 127 x row / |row| (its JS binding passes float32 only), too coarse for d = 1,280 (recall@10 0.93 on
 * food7 against 0.99 for exact search over the codes), so the graph's best 4 x k are re-ranked by the
 * cosine with the decoded codes, which is what exact search over the codes ranks by.
 */
export const I8_GRAPH_RESCORE = 4;

/** Top-k of `queries` (prepareQueries'd) from the index's HNSW graph: cosine, as the exact search ranks. */
export async function searchGraph(s: GraphSource, queries: FeatureMatrix, opts: GraphSearchOptions): Promise<Ranking[]> {
  const graph = s.hnsw;
  if (!graph) throw new CbirError("E_BAD_OPTION", "the index has no current HNSW graph.", { fix: "build it with `cbir index <folder> --ann hnsw`." });
  const { n: qe, alpha } = expansionOptions(opts);
  const refine = opts.refine ?? 1;
  if (!Number.isInteger(refine) || refine < 1) throw invalidOption("refine", "integer >= 1 (1 = off)", opts.refine);
  const d = s.dim;
  const nQ = queries.ids.length;
  const rowOf = new Map(s.ids.map((id, i) => [id, i] as const));
  let q = normaliseRows(queries.data, nQ, d);
  if (qe > 0) {
    const { expansion, rows } = expansionFromRankings(graph.search(queries, { k: qe }), rowOf, vectorMetric("cosine"), alpha);
    q = normaliseRows(expandQueries({ data: q }, { data: decodeRows(s.vectors(), rows) }, d, expansion), nQ, d);
  }
  // refine: float32 rows of the best refine x k; an i8 graph without refine: the codes of the best 4 x k
  const byCodes = refine === 1 && graph.scalar === "i8";
  const found = graph.search({ ...queries, data: q }, { k: opts.k * (byCodes ? I8_GRAPH_RESCORE : refine), queryLabels: opts.queryLabels });
  if (refine === 1 && !byCodes) return found.map((r) => withLabels(r, opts.labels));
  // cosine of each candidate's row, best first, ties to the lower row
  const out: Ranking[] = [];
  for (const [i, r] of found.entries()) {
    const cand = Int32Array.from(r.hits, (h) => rowOf.get(h.id)!).sort();
    const x = normaliseRows(byCodes ? decodeRows(s.vectors(), cand) : await s.rows(cand), cand.length, d);
    const scored = Array.from(cand, (row, j) => {
      let dot = 0;
      for (let t = 0; t < d; t++) dot += q[i * d + t] * x[j * d + t];
      return { row, score: Math.fround(dot) };
    }).sort((a, b) => b.score - a.score || a.row - b.row);
    out.push(withLabels({ ...r, hits: scored.slice(0, opts.k).map((h) => ({ id: s.ids[h.row], score: h.score })) }, opts.labels));
  }
  return out;
}

function withLabels(r: Ranking, labels: Map<string, string> | undefined): Ranking {
  if (!labels) return r;
  return { ...r, hits: r.hits.map((h) => (labels.has(h.id) ? { ...h, label: labels.get(h.id)! } : h)) };
}
