/**
 * ONNX model writing, shared by the backbone runtime (lib/backbone/onnx: tfjs -> ONNX export) and the search
 * kernels (lib/rank/onnx-graph.ts): a protobuf writer, the ONNX model serializer and the tfjs compiler.
 */
export { ProtoWriter, float32Bytes, int64Bytes } from "./protobuf";
export { OPSET, serializeModel, type AttributeValue, type OnnxNode, type OnnxInitializer, type OnnxDim, type OnnxValueInfo, type OnnxGraph } from "./onnx-model";
export { GraphBuilder, samePadding, unsupported, type Value } from "./graph";
export { EXPORTABLE_LAYERS, type ExportableLayer } from "./layers";
export { exportLayersModel, EXPORTER_VERSION, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME, type OnnxExport, type ExportOptions } from "./export";
