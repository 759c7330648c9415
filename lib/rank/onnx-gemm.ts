/**
 * Matrix multiply on ONNX Runtime (MLAS, AVX2/AVX-512 kernels): a one-node graph built in memory,
 * scores = queries · database^T. Many times faster than any JS loop for large collections (see
 * bench/rank-search.ts); asynchronous, because ONNX Runtime's run() is.
 */
import type * as OrtTypes from "onnxruntime-node";
import { ProtoWriter } from "../backbone/onnx/protobuf";

const TENSOR_FLOAT = 1;
const ATTR_INT = 2;

function valueInfo(name: string, dims: (number | string)[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) shape.message(1, typeof d === "number" ? new ProtoWriter().varint(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().varint(1, TENSOR_FLOAT).message(2, shape);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType));
}

/** ModelProto bytes of `scores[m, n] = Gemm(q[m, d], db[n, d], transB = 1)`. */
export function gemmModelBytes(d: number): Uint8Array {
  const attr = new ProtoWriter().string(1, "transB").varint(3, 1).varint(20, ATTR_INT);
  const node = new ProtoWriter().string(1, "q").string(1, "db").string(2, "scores").string(3, "gemm").string(4, "Gemm").message(5, attr);
  const graph = new ProtoWriter()
    .message(1, node)
    .string(2, "dot-products")
    .message(11, valueInfo("q", ["m", d]))
    .message(11, valueInfo("db", ["n", d]))
    .message(12, valueInfo("scores", ["m", "n"]));
  return new ProtoWriter()
    .varint(1, 7)
    .string(2, "cbir-rank")
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, "").varint(2, 13))
    .finish();
}

export interface OnnxGemmOptions {
  /** Intra-op threads (default 1: the machine is usually shared with decoding and inference). */
  threads?: number;
}

/** A reusable session for one vector dimension. */
export class OnnxDotProduct {
  private constructor(
    private readonly ort: typeof OrtTypes,
    private readonly session: OrtTypes.InferenceSession,
    readonly dim: number,
  ) {}

  static async create(dim: number, opts: OnnxGemmOptions = {}): Promise<OnnxDotProduct> {
    // the native addon is loaded on first use, so importing lib/rank stays cheap
    const ort = require("onnxruntime-node") as typeof OrtTypes;
    const session = await ort.InferenceSession.create(gemmModelBytes(dim), {
      intraOpNumThreads: opts.threads ?? 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
    });
    return new OnnxDotProduct(ort, session, dim);
  }

  /** nQ x nDb dot products of row-major q (nQ x dim) and db (nDb x dim). */
  async dots(q: Float32Array, nQ: number, db: Float32Array, nDb: number): Promise<Float32Array> {
    const out = await this.session.run({
      q: new this.ort.Tensor("float32", q, [nQ, this.dim]),
      db: new this.ort.Tensor("float32", db, [nDb, this.dim]),
    });
    return out.scores.data as Float32Array;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
