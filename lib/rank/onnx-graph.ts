/**
 * The in-memory ONNX graphs of the search kernels (onnx-gemm.ts, onnx-encoded.ts): value infos, nodes and
 * a ModelProto at IR 7, opset 13, written with the backbone compiler's protobuf writer.
 */
import { ProtoWriter } from "../onnx/protobuf";

export const T_FLOAT = 1;
export const T_UINT8 = 2;
export const T_INT8 = 3;
export const T_INT32 = 6;
export const T_FLOAT16 = 10;
const ATTR_INT = 2;

export function valueInfo(name: string, type: number, dims: (number | string)[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) shape.message(1, typeof d === "number" ? new ProtoWriter().varint(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().varint(1, type).message(2, shape);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType));
}

export function intAttr(name: string, v: number): ProtoWriter {
  return new ProtoWriter().string(1, name).varint(3, v).varint(20, ATTR_INT);
}

export function node(op: string, inputs: string[], outputs: string[], attrs: ProtoWriter[] = []): ProtoWriter {
  const n = new ProtoWriter();
  for (const i of inputs) n.string(1, i);
  for (const o of outputs) n.string(2, o);
  n.string(3, op.toLowerCase()).string(4, op);
  for (const a of attrs) n.message(5, a);
  return n;
}

export function model(name: string, nodes: ProtoWriter[], inputs: ProtoWriter[], outputs: ProtoWriter[]): Uint8Array {
  const graph = new ProtoWriter();
  for (const n of nodes) graph.message(1, n);
  graph.string(2, name);
  for (const i of inputs) graph.message(11, i);
  for (const o of outputs) graph.message(12, o);
  return new ProtoWriter()
    .varint(1, 7)
    .string(2, "cbir-rank")
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, "").varint(2, 13))
    .finish();
}
