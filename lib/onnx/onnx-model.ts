/**
 * An in-memory ONNX graph (nodes, initializers, one input and one output) and its serialisation to the
 * ModelProto bytes that ONNX Runtime loads. Field numbers are those of onnx/onnx.proto (IR version 7,
 * opset 13); only the fields this exporter writes are listed.
 */
import { ProtoWriter, float32Bytes, int64Bytes } from "./protobuf";

export const OPSET = 13;
const IR_VERSION = 7;

const TENSOR_FLOAT = 1;
const TENSOR_INT64 = 7;

const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

export type AttributeValue = number | string | number[] | { float: number };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attributes: Record<string, AttributeValue>;
}

export interface OnnxInitializer {
  name: string;
  dims: number[];
  /** float32 weights, or int64 values (shapes, pads) kept as plain numbers. */
  data: Float32Array | { int64: number[] };
}

/** A dimension: a fixed size or a symbolic name such as "batch". */
export type OnnxDim = number | string;

export interface OnnxValueInfo {
  name: string;
  dims: OnnxDim[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxInitializer[];
  input: OnnxValueInfo;
  output: OnnxValueInfo;
  /** Free text stored in the model (what it was exported from). */
  docString?: string;
}

function attributeProto(name: string, value: AttributeValue): ProtoWriter {
  const a = new ProtoWriter().string(1, name);
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: use {float} for non-integer ${value}`);
    a.varint(3, value).varint(20, ATTR_INT);
  } else if (typeof value === "string") {
    a.string(4, value).varint(20, ATTR_STRING);
  } else if (Array.isArray(value)) {
    for (const v of value) a.varint(8, v);
    a.varint(20, ATTR_INTS);
  } else {
    a.float(2, value.float).varint(20, ATTR_FLOAT);
  }
  return a;
}

function nodeProto(n: OnnxNode): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name).string(4, n.op);
  for (const [k, v] of Object.entries(n.attributes)) w.message(5, attributeProto(k, v));
  return w;
}

function tensorProto(t: OnnxInitializer): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.varint(1, d);
  if (t.data instanceof Float32Array) {
    w.varint(2, TENSOR_FLOAT).string(8, t.name).bytes(9, float32Bytes(t.data));
  } else {
    w.varint(2, TENSOR_INT64).string(8, t.name).bytes(9, int64Bytes(t.data.int64));
  }
  return w;
}

function valueInfoProto(v: OnnxValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) {
    const dim = new ProtoWriter();
    if (typeof d === "number") dim.varint(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter().varint(1, TENSOR_FLOAT).message(2, shape);
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, v.name).message(2, type);
}

/** Serialises the graph as an ONNX ModelProto. */
export function serializeModel(graph: OnnxGraph, producerVersion: string): Uint8Array {
  const g = new ProtoWriter();
  for (const n of graph.nodes) g.message(1, nodeProto(n));
  g.string(2, graph.name);
  for (const t of graph.initializers) g.message(5, tensorProto(t));
  if (graph.docString) g.string(10, graph.docString);
  g.message(11, valueInfoProto(graph.input));
  g.message(12, valueInfoProto(graph.output));

  const model = new ProtoWriter()
    .varint(1, IR_VERSION)
    .string(2, "cbir-keras2onnx")
    .string(3, producerVersion)
    .message(7, g)
    .message(8, new ProtoWriter().string(1, "").varint(2, OPSET));
  return model.finish();
}
