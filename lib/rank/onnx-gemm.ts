/**
 * Matrix multiply on ONNX Runtime (MLAS, AVX2/AVX-512 kernels): a one-node graph built in memory,
 * scores = queries · database^T. Many times faster than any JS loop for large collections (see
 * bench/rank-search.ts); asynchronous, because ONNX Runtime's run() is.
 */
import type * as OrtTypes from "onnxruntime-node";
import { T_FLOAT, intAttr, model, node, valueInfo } from "./onnx-graph";

/** ModelProto bytes of `scores[m, n] = Gemm(q[m, d], db[n, d], transB = 1)`. */
export function gemmModelBytes(d: number): Uint8Array {
  return model(
    "dot-products",
    [node("Gemm", ["q", "db"], ["scores"], [intAttr("transB", 1)])],
    [valueInfo("q", T_FLOAT, ["m", d]), valueInfo("db", T_FLOAT, ["n", d])],
    [valueInfo("scores", T_FLOAT, ["m", "n"])],
  );
}

export interface OnnxGemmOptions {
  /** Intra-op threads (default 1: the machine is usually shared with decoding and inference). */
  threads?: number;
}

/** An ONNX Runtime session for one of the search graphs (this file's and onnx-encoded.ts's). */
export async function openDotSession(bytes: Uint8Array, threads: number): Promise<{ ort: typeof OrtTypes; session: OrtTypes.InferenceSession }> {
  // the native addon is loaded on first use, so importing lib/rank stays cheap
  const ort = require("onnxruntime-node") as typeof OrtTypes;
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: "all" });
  return { ort, session };
}

/**
 * float32 queries against database rows stored as float32 or float16 bits (onnx-encoded.ts's graph widens
 * those inside the session): nQ x nDb dot products, row i at [i * nDb].
 */
export class OnnxFloatDot<Rows extends Float32Array | Uint16Array> {
  protected constructor(
    private readonly ort: typeof OrtTypes,
    private readonly session: OrtTypes.InferenceSession,
    readonly dim: number,
    private readonly rowType: "float32" | "float16",
  ) {}

  /** nQ x nDb dot products of row-major q (nQ x dim) and db (nDb x dim). */
  async dots(q: Float32Array, nQ: number, db: Rows, nDb: number): Promise<Float32Array> {
    const out = await this.session.run({
      q: new this.ort.Tensor("float32", q, [nQ, this.dim]),
      db: new this.ort.Tensor(this.rowType, db, [nDb, this.dim]),
    });
    return out.scores.data as Float32Array;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** A reusable float32 Gemm session for one vector dimension. */
export class OnnxDotProduct extends OnnxFloatDot<Float32Array> {
  static async create(dim: number, opts: OnnxGemmOptions = {}): Promise<OnnxDotProduct> {
    const { ort, session } = await openDotSession(gemmModelBytes(dim), opts.threads ?? 1);
    return new OnnxDotProduct(ort, session, dim, "float32");
  }
}
