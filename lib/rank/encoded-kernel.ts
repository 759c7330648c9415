/**
 * A DotKernel (blocked.ts) over f16 or i8 codes, so the blocked all-pairs loop (exactSearch / ExactIndex,
 * `cbir eval`, the demo) can score compressed rows. The database array the loop hands
 * over (its prepared rows: L2-normalised for cosine) is encoded once, on first sight, and its codes are
 * kept for as long as that array lives (a WeakMap on the array): later blocks and later searches over the
 * same array read the codes only. The i8 state is fitted on those prepared rows. ExactIndex.fromEncoded
 * hands the kernel codes a store already holds instead (`adopt`), for a database without float32 rows.
 *
 * The dots are approximate: f16 rows widened inside ONNX Runtime (Cast + Gemm), i8 rows through the integer
 * MatMulInteger u8 x s8 with the query codes of i8-dot.ts, or, for a single query, the WebAssembly SIMD
 * kernel of wasm-i8.ts on the calling thread (the same exact integer dots, about 5x faster for one query). The same ONNX Runtime sessions and block sizes as
 * the encoded search (encoded-search.ts, onnx-encoded.ts).
 *
 * Metrics. Every vector metric (metrics/index.ts) is the kernel's dot products plus exact per-row
 * statistics of the prepared float32 rows (VectorMetric.finish), so all of them run on codes: cosine (the
 * one the encodings were chosen and measured for), the L2 family, the SSIM ones and dhash (0/1 values,
 * exact in f16 and i8). Only ssim-image, which compares pixels without dot products, cannot (ENCODED_METRICS).
 */
import { invalidOption } from "../errors";
import type { MaybePromise, DotKernel } from "./blocked";
import { BLOCK_ROWS } from "./encoded-search";
import { checkEncodedVectors, encodeVectors, type EncodedVectors, type Encoding } from "./encoding";
import { i8QueryCodes, transposeQueryCodes, uint8Codes } from "./i8-dot";
import { VECTOR_METRICS, isVectorMetric, type Metric, type VectorMetricName } from "./metrics/index";
import { OnnxF16Dot, OnnxInt8Dot } from "./onnx-encoded";
import { WasmI8Kernel } from "./wasm-i8";

/** The metrics the blocked loop can score on f16 / i8 codes: every vector metric (see the header). */
export const ENCODED_METRICS: readonly VectorMetricName[] = VECTOR_METRICS;

/** Refuses a metric the codes cannot score, naming the metric and the encoding. */
export function checkEncodedMetric(metric: Metric, encoding: Encoding): VectorMetricName {
  if (encoding !== "f32" && !isVectorMetric(metric))
    throw invalidOption("metric", `one of ${ENCODED_METRICS.join(", ")} with ${encoding} vectors (dot-product metrics; or vectors f32)`, metric);
  return metric as VectorMetricName;
}

/** Codes of one database array, ready for its kernel. */
interface EncodedDb {
  vectors: EncodedVectors;
  /** i8: the codes + 128 (uint8 operand of MatMulInteger), made for the first batch. */
  u8?: Uint8Array;
  /** i8: the WebAssembly kernel for single queries, made for the first one (null where it cannot run). */
  wasm?: WasmI8Kernel | null;
}

export interface EncodedDotKernelOptions {
  /** ONNX Runtime intra-op threads (default 1). */
  threads?: number;
  /** Database rows per ONNX Runtime call (default the encoded search's: f16 4,096, i8 8,192). */
  blockRows?: number;
}

export class EncodedDotKernel implements DotKernel {
  readonly name: string;
  private readonly encoded = new WeakMap<Float32Array, EncodedDb>();
  private f16?: OnnxF16Dot;
  private i8?: OnnxInt8Dot;
  private buf = new Float32Array(0);
  private readonly threads: number;
  private readonly blockRows: number;

  constructor(
    readonly encoding: "f16" | "i8",
    opts: EncodedDotKernelOptions = {},
  ) {
    this.threads = opts.threads ?? 1;
    if (!Number.isInteger(this.threads) || this.threads < 1) throw invalidOption("threads", "positive integer", opts.threads);
    this.blockRows = opts.blockRows ?? BLOCK_ROWS[encoding];
    if (!Number.isInteger(this.blockRows) || this.blockRows < 1) throw invalidOption("blockRows", "positive integer", opts.blockRows);
    this.name = encoding === "f16" ? "onnx-cast-gemm-f16" : "onnx-matmulinteger-u8s8";
  }

  /**
   * Scores the database array `db` (which may be an empty placeholder) with `vectors`, codes of its
   * prepared rows encoded elsewhere (a store's), instead of encoding `db` itself.
   */
  adopt(db: Float32Array, vectors: EncodedVectors): void {
    checkEncodedVectors(vectors);
    if (vectors.encoding !== this.encoding) throw invalidOption("vectors", `${this.encoding} codes (this kernel's encoding)`, vectors.encoding);
    this.encoded.set(db, { vectors });
  }

  private codesOf(db: Float32Array, nDb: number, d: number): EncodedDb {
    let e = this.encoded.get(db);
    if (!e) {
      e = { vectors: encodeVectors(this.encoding, db, nDb, d) };
      this.encoded.set(db, e);
    }
    if (e.vectors.count !== nDb || e.vectors.dim !== d) throw invalidOption("database", `${e.vectors.count} rows of ${e.vectors.dim} (the encoded ones)`, `${nDb} rows of ${d}`);
    return e;
  }

  private out(n: number): Float32Array {
    if (this.buf.length < n) this.buf = new Float32Array(n);
    return this.buf.subarray(0, n);
  }

  dots(q: Float32Array, nQ: number, db: Float32Array, nDb: number, d: number): MaybePromise<Float32Array> {
    const e = this.codesOf(db, nDb, d);
    if (nQ === 0 || nDb === 0) return this.out(0);
    return this.encoding === "f16" ? this.dotsF16(q, nQ, e, nDb, d) : this.dotsI8(q, nQ, e, nDb, d);
  }

  private async dotsF16(q: Float32Array, nQ: number, e: EncodedDb, nDb: number, d: number): Promise<Float32Array> {
    this.f16 ??= await OnnxF16Dot.create(d, this.threads);
    const codes = e.vectors.codes as Uint16Array;
    // blocks, not one call: the graph widens its whole input to float32, which would undo the saving
    if (nDb <= this.blockRows) return this.f16.dots(q, nQ, codes, nDb);
    const out = this.out(nQ * nDb);
    for (let s = 0; s < nDb; s += this.blockRows) {
      const nb = Math.min(this.blockRows, nDb - s);
      const block = await this.f16.dots(q, nQ, codes.subarray(s * d, (s + nb) * d), nb);
      for (let i = 0; i < nQ; i++) out.set(block.subarray(i * nb, (i + 1) * nb), i * nDb + s);
    }
    return out;
  }

  private async dotsI8(q: Float32Array, nQ: number, e: EncodedDb, nDb: number, d: number): Promise<Float32Array> {
    const { codes: u, scale: t, base } = i8QueryCodes(e.vectors.state!, q, nQ, d);
    if (nQ === 1) {
      // one query reads every code once: the WebAssembly SIMD kernel runs at the read rate, MatMulInteger
      // at about a fifth of it (encoded-search.ts's table)
      if (e.wasm === undefined) e.wasm = WasmI8Kernel.create(e.vectors.codes as Int8Array, nDb, d) ?? null;
      if (e.wasm) {
        const dots = e.wasm.allDots(u);
        const out = this.out(nDb);
        for (let j = 0; j < nDb; j++) out[j] = base[0] + t[0] * dots[j];
        return out;
      }
    }
    this.i8 ??= await OnnxInt8Dot.create(d, this.threads, "uint8");
    e.u8 ??= uint8Codes(e.vectors.codes as Int8Array);
    const { qt, shift } = transposeQueryCodes(u, nQ, d);
    const out = this.out(nQ * nDb);
    for (let s = 0; s < nDb; s += this.blockRows) {
      const nb = Math.min(this.blockRows, nDb - s);
      const dots = await this.i8.dots(e.u8!.subarray(s * d, (s + nb) * d), nb, qt, nQ);
      // row-major [nb, nQ]: query i's integer dots at stride nQ; q·x ≈ q·o + t (u·c) (i8-dot.ts)
      for (let i = 0; i < nQ; i++) {
        const ti = t[i];
        const bi = base[i] - ti * shift[i];
        const o = i * nDb + s;
        for (let j = 0; j < nb; j++) out[o + j] = bi + ti * dots[j * nQ + i];
      }
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.f16?.dispose();
    await this.i8?.dispose();
    this.f16 = this.i8 = undefined;
  }
}
