/**
 * Dot products over encoded rows on ONNX Runtime, one-node graphs built in memory like onnx-gemm.ts:
 *   i8   scores[n, m] = MatMulInteger(db codes[n, d] int8, query codes^T[d, m] int8), int32 (exact integer sums)
 *   f16  scores[m, n] = Gemm(q[m, d], Cast<float>(db[n, d] float16), transB = 1)
 * The i8 graph takes the database rows as its left operand so the row-major codes are used as stored; only
 * the small query block is transposed.
 */
import type * as OrtTypes from "onnxruntime-node";
import { T_FLOAT, T_FLOAT16, T_INT32, T_INT8, T_UINT8, intAttr, model, node, valueInfo } from "./onnx-graph";
import { OnnxFloatDot, openDotSession as session } from "./onnx-gemm";

/** ModelProto bytes of `scores[n, m] = MatMulInteger(db[n, d], qt[d, m])`, int8 x int8 -> int32. */
export function matMulIntegerModelBytes(d: number, dbType: "int8" | "uint8" = "int8"): Uint8Array {
  const t = dbType === "uint8" ? T_UINT8 : T_INT8;
  return model("encoded-dot-products", [node("MatMulInteger", ["db", "qt"], ["scores"])], [valueInfo("db", t, ["n", d]), valueInfo("qt", T_INT8, [d, "m"])], [valueInfo("scores", T_INT32, ["n", "m"])]);
}

/** ModelProto bytes of `scores[m, n] = Gemm(q[m, d], Cast(db[n, d] f16 -> f32), transB = 1)`. */
export function f16GemmModelBytes(d: number): Uint8Array {
  return model(
    "encoded-dot-products",
    [node("Cast", ["db"], ["db32"], [intAttr("to", T_FLOAT)]), node("Gemm", ["q", "db32"], ["scores"], [intAttr("transB", 1)])],
    [valueInfo("q", T_FLOAT, ["m", d]), valueInfo("db", T_FLOAT16, ["n", d])],
    [valueInfo("scores", T_FLOAT, ["m", "n"])],
  );
}

/** int8 code dot products on ONNX Runtime. */
export class OnnxInt8Dot {
  private constructor(
    private readonly ort: typeof OrtTypes,
    private readonly session: OrtTypes.InferenceSession,
    readonly dim: number,
    readonly dbType: "int8" | "uint8",
  ) {}

  static async create(dim: number, threads = 1, dbType: "int8" | "uint8" = "int8"): Promise<OnnxInt8Dot> {
    const { ort, session: s } = await session(matMulIntegerModelBytes(dim, dbType), threads);
    return new OnnxInt8Dot(ort, s, dim, dbType);
  }

  /** nDb x nQ integer dot products (row j at [j * nQ]) of db codes (nDb x dim) and the transposed query codes (dim x nQ). */
  async dots(db: Int8Array | Uint8Array, nDb: number, qt: Int8Array, nQ: number): Promise<Int32Array> {
    const out = await this.session.run({
      db: new this.ort.Tensor(this.dbType, db, [nDb, this.dim]),
      qt: new this.ort.Tensor("int8", qt, [this.dim, nQ]),
    });
    return out.scores.data as Int32Array;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** float32 queries against float16 rows on ONNX Runtime (the rows are widened block by block inside the graph). */
export class OnnxF16Dot extends OnnxFloatDot<Uint16Array> {
  static async create(dim: number, threads = 1): Promise<OnnxF16Dot> {
    const { ort, session: s } = await session(f16GemmModelBytes(dim), threads);
    return new OnnxF16Dot(ort, s, dim, "float16");
  }
}
