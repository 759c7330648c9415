/**
 * Dot products over encoded rows on ONNX Runtime, one-node graphs built in memory like onnx-gemm.ts:
 *   i8   scores[n, m] = MatMulInteger(db codes[n, d] int8, query codes^T[d, m] int8), int32 (exact integer sums)
 *   f16  scores[m, n] = Gemm(q[m, d], Cast<float>(db[n, d] float16), transB = 1)
 * The i8 graph takes the database rows as its left operand so the row-major codes are used as stored; only
 * the small query block is transposed.
 */
import type * as OrtTypes from "onnxruntime-node";
import { ProtoWriter } from "../backbone/onnx/protobuf";

const T_FLOAT = 1;
const T_UINT8 = 2;
const T_INT8 = 3;
const T_INT32 = 6;
const T_FLOAT16 = 10;
const ATTR_INT = 2;

function valueInfo(name: string, type: number, dims: (number | string)[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) shape.message(1, typeof d === "number" ? new ProtoWriter().varint(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().varint(1, type).message(2, shape);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType));
}

function intAttr(name: string, v: number): ProtoWriter {
  return new ProtoWriter().string(1, name).varint(3, v).varint(20, ATTR_INT);
}

function node(op: string, inputs: string[], outputs: string[], attrs: ProtoWriter[] = []): ProtoWriter {
  const n = new ProtoWriter();
  for (const i of inputs) n.string(1, i);
  for (const o of outputs) n.string(2, o);
  n.string(3, op.toLowerCase()).string(4, op);
  for (const a of attrs) n.message(5, a);
  return n;
}

function model(nodes: ProtoWriter[], inputs: ProtoWriter[], outputs: ProtoWriter[]): Uint8Array {
  const graph = new ProtoWriter();
  for (const n of nodes) graph.message(1, n);
  graph.string(2, "encoded-dot-products");
  for (const i of inputs) graph.message(11, i);
  for (const o of outputs) graph.message(12, o);
  return new ProtoWriter()
    .varint(1, 7)
    .string(2, "cbir-rank")
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, "").varint(2, 13))
    .finish();
}

/** ModelProto bytes of `scores[n, m] = MatMulInteger(db[n, d], qt[d, m])`, int8 x int8 -> int32. */
export function matMulIntegerModelBytes(d: number, dbType: "int8" | "uint8" = "int8"): Uint8Array {
  const t = dbType === "uint8" ? T_UINT8 : T_INT8;
  return model([node("MatMulInteger", ["db", "qt"], ["scores"])], [valueInfo("db", t, ["n", d]), valueInfo("qt", T_INT8, [d, "m"])], [valueInfo("scores", T_INT32, ["n", "m"])]);
}

/** ModelProto bytes of `scores[m, n] = Gemm(q[m, d], Cast(db[n, d] f16 -> f32), transB = 1)`. */
export function f16GemmModelBytes(d: number): Uint8Array {
  return model(
    [node("Cast", ["db"], ["db32"], [intAttr("to", T_FLOAT)]), node("Gemm", ["q", "db32"], ["scores"], [intAttr("transB", 1)])],
    [valueInfo("q", T_FLOAT, ["m", d]), valueInfo("db", T_FLOAT16, ["n", d])],
    [valueInfo("scores", T_FLOAT, ["m", "n"])],
  );
}

async function session(bytes: Uint8Array, threads: number): Promise<{ ort: typeof OrtTypes; session: OrtTypes.InferenceSession }> {
  // the native addon is loaded on first use, so importing lib/rank stays cheap
  const ort = require("onnxruntime-node") as typeof OrtTypes;
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: "all" });
  return { ort, session: s };
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
export class OnnxF16Dot {
  private constructor(
    private readonly ort: typeof OrtTypes,
    private readonly session: OrtTypes.InferenceSession,
    readonly dim: number,
  ) {}

  static async create(dim: number, threads = 1): Promise<OnnxF16Dot> {
    const { ort, session: s } = await session(f16GemmModelBytes(dim), threads);
    return new OnnxF16Dot(ort, s, dim);
  }

  /** nQ x nDb dot products (row i at [i * nDb]) of float32 q (nQ x dim) and float16 bits db (nDb x dim). */
  async dots(q: Float32Array, nQ: number, db: Uint16Array, nDb: number): Promise<Float32Array> {
    const out = await this.session.run({
      q: new this.ort.Tensor("float32", q, [nQ, this.dim]),
      db: new this.ort.Tensor("float16", db, [nDb, this.dim]),
    });
    return out.scores.data as Float32Array;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
