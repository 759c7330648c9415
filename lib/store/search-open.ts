/**
 * An index opened for search (`cbir query`): f16 / i8 indexes read only their codes into memory, and
 * float32 rows lazily from the segments when refine asks for them (positioned reads of just those rows,
 * then the stored post-processing); f32 indexes read their segments, as openIndex does. The HNSW graph is
 * loaded when the index has a current one. Codes that are missing, stale or fail their checksum are
 * re-encoded from the segments for the run, with a warning; such a graph is skipped for exact search.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CbirError } from "../errors";
import { assertSameFingerprint, type Fingerprint } from "../fingerprint";
import type { Encoding, EncodedVectors } from "../rank/encoding";
import { encodeForCosine, rowReader, type RowReader } from "../rank/encoded-search";
import { HnswIndex } from "../rank/hnsw";
import { applyPostprocess, postFromJSON, type FittedPost } from "../reduce/postprocess";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix } from "../types";
import { openIndex } from "./index-store";
import { manifestPath, readManifest, type IndexManifest } from "./manifest";
import { checkHnswFile, codesFile, hnswOptions, indexEncoding, readCodes, searchFingerprint, type GraphSource } from "./search-files";

export { searchGraph } from "./search-files";

/** An index opened for search: the codes (or, for f32, the float32 features), the lazy row reader, the graph. */
export interface SearchIndex extends GraphSource {
  dir: string;
  manifest: IndexManifest;
  ids: string[];
  encoding: Encoding;
  /** Of the ranked vectors (with the encoding unless f32); prepareQueries gives queries this fingerprint. */
  fingerprint: Fingerprint;
  dim: number;
  /** f32 indexes: the post-processed vectors (read from the segments). */
  features?: FeatureMatrix;
  /** f16 / i8: the codes; f32: the normalised features, made on first use (query expansion over the graph). */
  vectors(): EncodedVectors;
  /** Float32 rows of the search vectors (post-processed, not normalised): f16 / i8 read them lazily from the segments. */
  rows: RowReader;
  /** The graph, when the index has a current one. */
  hnsw?: HnswIndex;
  /** Applies the index's post-processing to query vectors of its extractor. */
  prepareQueries(q: FeatureMatrix): FeatureMatrix;
}

export interface OpenSearchOptions {
  /** Load the graph when there is one (default true). */
  ann?: boolean;
  reporter?: Reporter;
}

export function openSearchIndex(dir: string, opts: OpenSearchOptions = {}): SearchIndex {
  const rep = reporterOf(opts.reporter);
  const found = readManifest(dir);
  if (!found) openIndex(dir); // throws, saying why there is no index (a file, or no manifest)
  const m = found!;
  const encoding = indexEncoding(m);
  const fingerprint = searchFingerprint(m, encoding);
  const post = m.post ? postFromJSON(m.post.state) : undefined;
  const withFp = (q: FeatureMatrix): FeatureMatrix => ({ ...q, fingerprint });
  let s: SearchIndex;
  if (encoding === "f32") {
    const all = openIndex(dir);
    const f = all.features;
    let v: EncodedVectors | undefined;
    s = {
      dir,
      manifest: m,
      ids: f.ids,
      encoding,
      fingerprint,
      dim: f.dim,
      features: f,
      vectors: () => (v ??= encodeForCosine("f32", f.data, f.ids.length, f.dim)),
      rows: rowReader(f.data, f.dim),
      prepareQueries: (q) => all.prepareQueries(q),
    };
  } else {
    let got = readCodes(dir, m);
    if ("problem" in got) {
      // nothing stored is lost: the codes are made again from the segments, for this run
      rep.warn(`${got.problem}: re-encoding the search vectors from the float32 segments for this query (run \`cbir index\` to rewrite ${codesFile(encoding)}).`, path.join(dir, m.codes!.file));
      const f = openIndex(dir).features;
      got = { vectors: encodeForCosine(encoding, f.data, f.ids.length, f.dim) };
    }
    const vectors = got.vectors;
    const ids = m.items.map((i) => i.name);
    s = {
      dir,
      manifest: m,
      ids,
      encoding,
      fingerprint,
      dim: vectors.dim,
      vectors: () => vectors,
      rows: segmentRowReader(dir, m, post, vectors.dim),
      prepareQueries: (q) => {
        assertSameFingerprint(m.fingerprint, q.fingerprint, manifestPath(dir));
        return withFp(post ? applyPostprocess(q, post) : q);
      },
    };
  }
  if ((opts.ann ?? true) && m.ann) {
    const checked = checkHnswFile(dir, m, encoding);
    if ("file" in checked) s.hnsw = HnswIndex.load(checked.file, { ids: s.ids, dim: s.dim, data: new Float32Array(0), fingerprint }, hnswOptions(encoding));
    else rep.warn(`${checked.problem}: exact search instead (run \`cbir index\` to rebuild it).`, path.join(dir, m.ann.file));
  }
  return s;
}

/**
 * Float32 rows of the search vectors read from the segments as they are asked for: positioned reads of
 * just those rows, then the stored post-processing. A segment's checksum covers the whole file, so here
 * only its size is checked; `cbir index` verifies every segment.
 */
export function segmentRowReader(dir: string, m: IndexManifest, post: FittedPost | undefined, searchDim: number): RowReader {
  const dim = m.dim;
  const starts: number[] = [];
  let row = 0;
  for (const s of m.segments) {
    starts.push(row);
    row += s.rows;
  }
  return (rows) => {
    const raw = new Float32Array(rows.length * dim);
    const bytes = new Uint8Array(raw.buffer);
    const fds = new Map<number, number>();
    try {
      rows.forEach((r, i) => {
        if (!(r >= 0 && r < row)) throw new CbirError("E_INDEX_CORRUPT", `row ${r} is outside the index's ${row} rows.`, { fix: "rebuild the index." });
        let g = starts.length - 1;
        while (starts[g] > r) g--;
        const seg = m.segments[g];
        const file = path.join(dir, seg.file);
        let fd = fds.get(g);
        if (fd === undefined) {
          try {
            fd = fs.openSync(file, "r");
          } catch {
            throw new CbirError("E_INDEX_CORRUPT", `vector file ${seg.file} is missing (refine reads float32 rows from it).`, { file, fix: "run `cbir index` again to recompute it, or query without --refine." });
          }
          fds.set(g, fd);
          if (fs.fstatSync(fd).size !== seg.rows * dim * 4)
            throw new CbirError("E_INDEX_CORRUPT", `vector file ${seg.file} has ${fs.fstatSync(fd).size} bytes, expected ${seg.rows * dim * 4}.`, { file, fix: "run `cbir index` again: the images of that file are recomputed." });
        }
        const n = fs.readSync(fd, bytes, i * dim * 4, dim * 4, (r - starts[g]) * dim * 4);
        if (n !== dim * 4) throw new CbirError("E_INDEX_CORRUPT", `vector file ${seg.file} is shorter than the manifest says.`, { file, fix: "run `cbir index` again." });
      });
    } finally {
      for (const fd of fds.values()) fs.closeSync(fd);
    }
    if (!post) return raw;
    const out = applyPostprocess({ ids: Array.from(rows, String), dim, data: raw, fingerprint: m.fingerprint }, post).data;
    if (out.length !== rows.length * searchDim) throw new CbirError("E_INDEX_CORRUPT", `post-processed rows have ${out.length / Math.max(1, rows.length)} values, the codes ${searchDim}.`, { file: manifestPath(dir), fix: "rebuild the index." });
    return out;
  };
}
