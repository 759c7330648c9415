/**
 * Exact top-k cosine search over encoded rows (encoding.ts), reading the compressed codes directly, with an
 * optional refine step that re-scores the best r x k candidates with float32 rows (FAISS's IndexRefine).
 *
 * Kernels, chosen by measurement on this machine (2 shared cores, AVX-512 VNNI; 100,000 x 1,280, threads 1,
 * medians in one run; see the closing note of issue 21 for the table):
 *   f32  ONNX Runtime Gemm                         1 query 40 ms, 64 queries 190 ms (usearch exact: 47 / 1,362 ms)
 *   f16  ONNX Runtime Cast + Gemm, 4,096-row blocks 1 query 56 ms, 64 queries 206 ms (one whole-database run: 105 ms)
 *   i8   1 query: WebAssembly SIMD (wasm-i8.ts) on `threads` persistent workers, each its own row range;
 *        usearch exactSearch where WebAssembly SIMD does not run. In one bench run (loaded machine):
 *        wasm 1 thread 7.1 ms, 2 threads 5.5 ms; usearch 1 thread 7.4 ms, 2 threads 7.7 ms; both near the
 *        sequential read rate of the 128 MB of codes (ONNX Runtime MatMulInteger: 28 ms)
 *        batches: ONNX Runtime MatMulInteger uint8 x int8, 8,192-row blocks: 41 ms for 64 queries
 *        (usearch: 352-505 ms; int8 x int8 MatMulInteger: 663 ms, MLAS has no fast s8s8 path here)
 * Every kernel streams the database in blocks and keeps one bounded heap per query (memory O(block x batch + k)).
 *
 * How i8 scores relate to cosine. Rows are L2-normalised, then coded per dimension j as
 * x_j ≈ o_j + s_j c_j. For a normalised query q:  q·x ≈ q·o + Σ_j (q_j s_j) c_j.  q·o is the same for every
 * row, so the ranking needs only Σ_j w_j c_j with w_j = q_j s_j; w is quantised to int8 with one scale per
 * query (u_j = round(w_j / t), t = max|w| / 127), and the integer dot product u·c is computed exactly.
 * The reported score is q·o + t (u·c): the float dot product with the decoded row, up to the query's own
 * rounding. Uint8 codes (c + 128) add 128 Σ u_j to every row's dot product, which is subtracted.
 */
import { CbirError, invalidOption } from "../errors";
import { checkEncodedVectors, checkEncoding, decodeRows, encodeVectors, type Encoding, type EncodedVectors, type I8State } from "./encoding";
import { i8QueryCodes, transposeQueryCodes, uint8Codes, type I8QueryCodes } from "./i8-dot";
import { OnnxDotProduct } from "./onnx-gemm";
import { OnnxF16Dot, OnnxInt8Dot } from "./onnx-encoded";
import { WasmI8Kernel, wasmI8Available } from "./wasm-i8";

/** Float32 rows `rows` of the database as stored (not normalised), in the order asked: the store's reader. */
export type RowReader = (rows: Int32Array) => Float32Array | Promise<Float32Array>;

/** The RowReader of float32 rows held in memory (`data`, row-major, `d` values a row). */
export function rowReader(data: Float32Array, d: number): RowReader {
  return (rows: Int32Array) => {
    const out = new Float32Array(rows.length * d);
    rows.forEach((r, i) => out.set(data.subarray(r * d, (r + 1) * d), i * d));
    return out;
  };
}

export interface EncodedSearchOptions {
  /** Hits per query (default 10). */
  k?: number;
  /**
   * Refine: re-score the best `refine x k` candidates by the compressed score with float32 rows and return
   * them in exact order (default 1 = off; f32 always re-scores its own rows, see below).
   */
  refine?: number;
  /** The float32 rows for refine (f16 / i8); f32 reads its own codes. */
  rows?: RowReader;
  /** Queries per kernel call (default 64). */
  batch?: number;
}

export interface EncodedHits {
  /** Database rows, best first. */
  rows: Int32Array;
  /** Their cosine scores: exact after refine (and always for f32), else the compressed estimate. */
  scores: Float32Array;
}

export interface EncodedIndexOptions {
  /** Native threads of ONNX Runtime and usearch (default 1: the machine is usually shared). */
  threads?: number;
  /** Database rows per ONNX Runtime call (default per encoding: f32 16,384, f16 4,096, i8 8,192). */
  blockRows?: number;
}

/** Database rows per kernel call: small enough that a block's scores stay in cache. */
export const BLOCK_ROWS: Record<Encoding, number> = { f32: 16384, f16: 4096, i8: 8192 };
/**
 * f32 re-scores this many candidates per hit with the in-order float32 dot product, so its scores and ties
 * are bit-identical to exactSearch / ExactIndex on the JS kernel whatever order the kernel summed in.
 */
const F32_RESCORE_FACTOR = 2;

/** Copies `src` row-normalised as prepareRows does for cosine (float32 products with 1 / |row|). */
export function normaliseRows(src: Float32Array, n: number, d: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * d;
    for (let k = 0; k < d; k++) s += src[o + k] * src[o + k];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let k = 0; k < d; k++) out[o + k] = src[o + k] * inv;
  }
  return out;
}

/** Bounded heap of the best `cap` (score, row): higher score first, ties to the lower row. */
class TopHeap {
  readonly score: Float64Array;
  readonly row: Int32Array;
  size = 0;
  /** The worst kept score once full (rows arrive in increasing order, so an equal score never displaces). */
  floor = -Infinity;
  constructor(readonly cap: number) {
    this.score = new Float64Array(cap);
    this.row = new Int32Array(cap);
  }
  private worse(a: number, b: number): boolean {
    const sa = this.score[a];
    const sb = this.score[b];
    return sa < sb || (sa === sb && this.row[a] > this.row[b]);
  }
  private swap(a: number, b: number): void {
    const s = this.score[a];
    this.score[a] = this.score[b];
    this.score[b] = s;
    const r = this.row[a];
    this.row[a] = this.row[b];
    this.row[b] = r;
  }
  push(score: number, row: number): void {
    if (this.size < this.cap) {
      let i = this.size++;
      this.score[i] = score;
      this.row[i] = row;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!this.worse(i, p)) break;
        this.swap(i, p);
        i = p;
      }
      if (this.size === this.cap) this.floor = this.score[0];
      return;
    }
    if (!(score > this.floor)) return;
    this.score[0] = score;
    this.row[0] = row;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let w = i;
      if (l < this.size && this.worse(l, w)) w = l;
      if (r < this.size && this.worse(r, w)) w = r;
      if (w === i) break;
      this.swap(i, w);
      i = w;
    }
    this.floor = this.score[0];
  }
  /** Rows and scores, best first. */
  sorted(): { rows: Int32Array; scores: Float64Array } {
    const idx = Array.from({ length: this.size }, (_, i) => i);
    idx.sort((a, b) => this.score[b] - this.score[a] || this.row[a] - this.row[b]);
    return { rows: Int32Array.from(idx, (i) => this.row[i]), scores: Float64Array.from(idx, (i) => this.score[i]) };
  }
}

type UsearchModule = typeof import("usearch");

export class EncodedIndex {
  private u8Codes: Uint8Array | undefined;
  private f32Session: OnnxDotProduct | undefined;
  private f16Session: OnnxF16Dot | undefined;
  private i8Session: OnnxInt8Dot | undefined;
  private usearch: UsearchModule | undefined;
  private ownCodes: Int8Array | undefined;
  /** The WebAssembly i8 kernel and its workers, made at the first single query (null: unavailable here). */
  private wasmI8: WasmI8Kernel | null | undefined;

  private constructor(
    readonly vectors: EncodedVectors,
    readonly threads: number,
    readonly blockRows: number,
  ) {}

  /** `vectors` must hold L2-normalised rows (encodeForCosine). */
  static create(vectors: EncodedVectors, opts: EncodedIndexOptions = {}): EncodedIndex {
    checkEncodedVectors(vectors);
    const threads = opts.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) throw invalidOption("threads", "positive integer", opts.threads);
    const blockRows = opts.blockRows ?? BLOCK_ROWS[vectors.encoding];
    if (!Number.isInteger(blockRows) || blockRows < 1) throw invalidOption("blockRows", "positive integer", opts.blockRows);
    return new EncodedIndex(vectors, threads, blockRows);
  }

  get encoding(): Encoding {
    return this.vectors.encoding;
  }

  /** Refuses a search that asks for another encoding than the index's, naming both. */
  checkEncoding(expected: Encoding): void {
    checkEncoding(expected, this.vectors);
  }

  /** The kernel that scores a batch of `nQ` queries. */
  kernelFor(nQ: number): string {
    if (this.encoding === "f32") return "onnx-gemm";
    if (this.encoding === "f16") return "onnx-cast-gemm";
    if (nQ > 1) return "onnx-matmulinteger-u8s8";
    return this.wasmI8 !== null && wasmI8Available() ? `wasm-simd-i8 (${this.threads} thread${this.threads > 1 ? "s" : ""})` : "usearch-i8";
  }

  /** Top-k of each of `nQ` float32 query rows (normalised here) against the database. */
  async search(queries: Float32Array, nQ: number, opts: EncodedSearchOptions = {}): Promise<EncodedHits[]> {
    const { dim: d, count: n } = this.vectors;
    if (queries.length !== nQ * d) throw invalidOption("queries", `${nQ} rows of ${d} values`, `${queries.length} values`);
    const k = opts.k ?? 10;
    if (!Number.isInteger(k) || k < 1) throw invalidOption("k", "positive integer", opts.k);
    const refine = opts.refine ?? 1;
    if (!Number.isInteger(refine) || refine < 1) throw invalidOption("refine", "integer >= 1 (1 = off)", opts.refine);
    const batch = opts.batch ?? 64;
    if (!Number.isInteger(batch) || batch < 1) throw invalidOption("batch", "positive integer", opts.batch);
    let reader = opts.rows;
    const factor = this.encoding === "f32" ? Math.max(refine, F32_RESCORE_FACTOR) : refine;
    if (factor > 1 && !reader) {
      if (this.encoding !== "f32")
        throw new CbirError("E_BAD_OPTION", `refine needs the float32 rows of the ${this.encoding} index.`, { fix: "pass rows: a reader of the stored float32 vectors, or refine: 1." });
      reader = (rows) => decodeRows(this.vectors, rows);
    }
    const cand = Math.min(n, k * factor);
    const q = normaliseRows(queries, nQ, d);
    const out: EncodedHits[] = [];
    for (let s = 0; s < nQ; s += batch) {
      const nb = Math.min(batch, nQ - s);
      const qb = q.subarray(s * d, (s + nb) * d);
      const heaps = await this.candidates(qb, nb, cand);
      for (let i = 0; i < nb; i++) {
        const { rows, scores } = heaps[i].sorted();
        if (factor > 1 && reader) out.push(await rescore(qb.subarray(i * d, (i + 1) * d), rows, reader, d, k));
        else out.push({ rows: rows.slice(0, k), scores: Float32Array.from(scores.subarray(0, k)) });
      }
    }
    return out;
  }

  /** The best `cand` rows of each query by the compressed score. */
  private async candidates(q: Float32Array, nQ: number, cand: number): Promise<TopHeap[]> {
    const heaps = Array.from({ length: nQ }, () => new TopHeap(cand));
    if (cand === 0) return heaps;
    if (this.encoding === "f32") await this.scanF32(q, nQ, heaps);
    else if (this.encoding === "f16") await this.scanF16(q, nQ, heaps);
    else if (nQ === 1) await this.searchI8Single(q, heaps[0], cand);
    else await this.scanI8Onnx(q, nQ, heaps);
    return heaps;
  }

  private async scanF32(q: Float32Array, nQ: number, heaps: TopHeap[]): Promise<void> {
    const { dim: d, count: n } = this.vectors;
    const codes = this.vectors.codes as Float32Array;
    this.f32Session ??= await OnnxDotProduct.create(d, { threads: this.threads });
    for (let s = 0; s < n; s += this.blockRows) {
      const nb = Math.min(this.blockRows, n - s);
      const dots = await this.f32Session.dots(q, nQ, codes.subarray(s * d, (s + nb) * d), nb);
      takeQueryMajor(dots, nQ, nb, s, heaps);
    }
  }

  private async scanF16(q: Float32Array, nQ: number, heaps: TopHeap[]): Promise<void> {
    const { dim: d, count: n } = this.vectors;
    const codes = this.vectors.codes as Uint16Array;
    this.f16Session ??= await OnnxF16Dot.create(d, this.threads);
    for (let s = 0; s < n; s += this.blockRows) {
      const nb = Math.min(this.blockRows, n - s);
      const dots = await this.f16Session.dots(q, nQ, codes.subarray(s * d, (s + nb) * d), nb);
      takeQueryMajor(dots, nQ, nb, s, heaps);
    }
  }

  /** One i8 query: the WebAssembly kernel (wasm-i8.ts) where it runs, else usearch; the same scores either way. */
  private async searchI8Single(q: Float32Array, heap: TopHeap, cand: number): Promise<void> {
    const { dim: d, count: n } = this.vectors;
    if (this.wasmI8 === undefined) this.wasmI8 = WasmI8Kernel.create(this.vectors.codes as Int8Array, n, d, this.threads) ?? null;
    if (!this.wasmI8) return this.searchI8Usearch(q, heap, cand);
    const { codes: u, scale: t, base } = this.queryCodes(q, 1);
    const { rows, dots } = await this.wasmI8.search(u, cand);
    for (let j = 0; j < rows.length; j++) heap.push(base[0] + t[0] * dots[j], rows[j]); // increasing rows: ties keep the lower
  }

  private searchI8Usearch(q: Float32Array, heap: TopHeap, cand: number): void {
    const { dim: d } = this.vectors;
    const { codes: u, scale: t, base } = this.queryCodes(q, 1);
    this.usearch ??= require("usearch") as UsearchModule;
    // usearch reads from the start of the array's buffer, ignoring byteOffset: a view is copied once
    let codes = this.vectors.codes as Int8Array;
    if (codes.byteOffset !== 0) codes = this.ownCodes ??= Int8Array.from(codes);
    const res = this.usearch.exactSearch(codes, u, d, cand, this.usearch.MetricKind.IP, this.threads) as { keys: BigUint64Array; distances: Float32Array };
    const rows = Array.from(res.keys, Number);
    const dists = res.distances;
    // usearch reports 1 - (u · c); its float32 result is exact while |u · c| < 2^24. Rows arrive in any
    // order, so equal scores are pushed lowest row first to keep ties to the lower row
    const order = Array.from({ length: rows.length }, (_, j) => j).sort((a, b) => rows[a] - rows[b]);
    for (const j of order) heap.push(base[0] + t[0] * Math.round(1 - dists[j]), rows[j]);
  }

  private async scanI8Onnx(q: Float32Array, nQ: number, heaps: TopHeap[]): Promise<void> {
    const { dim: d, count: n } = this.vectors;
    const { codes: u, scale: t, base } = this.queryCodes(q, nQ);
    this.u8Codes ??= uint8Codes(this.vectors.codes as Int8Array);
    this.i8Session ??= await OnnxInt8Dot.create(d, this.threads, "uint8");
    const { qt: ut, shift } = transposeQueryCodes(u, nQ, d);
    for (let s = 0; s < n; s += this.blockRows) {
      const nb = Math.min(this.blockRows, n - s);
      const dots = await this.i8Session.dots(this.u8Codes.subarray(s * d, (s + nb) * d), nb, ut, nQ);
      // row-major [nb, nQ]: query i's scores at stride nQ
      for (let i = 0; i < nQ; i++) {
        const h = heaps[i];
        const ti = t[i];
        const bi = base[i] - ti * shift[i];
        for (let j = 0; j < nb; j++) {
          const v = bi + ti * dots[j * nQ + i];
          if (v > h.floor || h.size < h.cap) h.push(v, s + j);
        }
      }
    }
  }

  /** int8 codes of the queries with the database scales folded in (i8-dot.ts), their scales t and q·offset. */
  private queryCodes(q: Float32Array, nQ: number): I8QueryCodes {
    return i8QueryCodes(this.vectors.state!, q, nQ, this.vectors.dim);
  }

  async dispose(): Promise<void> {
    await this.f32Session?.dispose();
    await this.f16Session?.dispose();
    await this.i8Session?.dispose();
    await this.wasmI8?.dispose();
    this.wasmI8 = undefined;
    this.f32Session = this.f16Session = this.i8Session = undefined;
  }
}

/** Scores [nQ, nb] of a block starting at database row `s` into the heaps. */
function takeQueryMajor(dots: Float32Array, nQ: number, nb: number, s: number, heaps: TopHeap[]): void {
  for (let i = 0; i < nQ; i++) {
    const h = heaps[i];
    const o = i * nb;
    for (let j = 0; j < nb; j++) {
      const v = dots[o + j];
      if (v > h.floor || h.size < h.cap) h.push(v, s + j);
    }
  }
}

/** Exact cosine of the normalised query with the candidates' float32 rows (normalised as prepareRows does); top k. */
async function rescore(q: Float32Array, rows: Int32Array, reader: RowReader, d: number, k: number): Promise<EncodedHits> {
  const raw = await reader(rows);
  if (raw.length !== rows.length * d) throw new CbirError("E_INDEX_CORRUPT", `the row reader returned ${raw.length} values for ${rows.length} rows of ${d}.`, { fix: "rebuild the index." });
  const x = normaliseRows(raw, rows.length, d);
  const heap = new TopHeap(Math.min(k, rows.length));
  const order = Array.from(rows.keys()).sort((a, b) => rows[a] - rows[b]); // increasing rows: ties keep the lower
  for (const r of order) {
    let s = 0;
    for (let j = 0; j < d; j++) s += q[j] * x[r * d + j];
    heap.push(Math.fround(s), rows[r]);
  }
  const { rows: best, scores } = heap.sorted();
  return { rows: best, scores: Float32Array.from(scores) };
}

/**
 * The database of a cosine EncodedIndex: `n` rows of `d` L2-normalised, then encoded (i8 fits its state on
 * the normalised rows unless `state` is given). NaN/Inf rows are refused: drop the rows findBadRows names.
 */
export function encodeForCosine(encoding: Encoding, data: Float32Array, n: number, d: number, state?: I8State): EncodedVectors {
  return encodeVectors(encoding, normaliseRows(data, n, d), n, d, state);
}

/** Recall@k of approximate neighbour lists: the mean fraction of each reference top-k (rows) found in the other top-k. */
export function neighbourRecall(reference: ArrayLike<number>[], got: ArrayLike<number>[], k: number): number {
  if (reference.length !== got.length) throw invalidOption("got", `${reference.length} rankings`, got.length);
  let hits = 0;
  let total = 0;
  reference.forEach((r, i) => {
    const want = new Set(Array.from(r).slice(0, k));
    total += want.size;
    for (const j of Array.from(got[i]).slice(0, k)) if (want.has(j)) hits++;
  });
  return total ? hits / total : 1;
}
