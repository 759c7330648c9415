/** Stage "rank": similarity scores, exact and approximate search, query expansion, SSIM and dHash. */
export {
  METRICS,
  VECTOR_METRICS,
  FEATURE_METRICS,
  IMAGE_METRICS,
  registerMetric,
  vectorMetric,
  checkMetric,
  isVectorMetric,
  higherIsBetter,
  vectorSsim,
  dataRange,
  type Metric,
  type VectorMetric,
  type VectorMetricName,
  type FeatureMetricName,
  type RegisteredMetricNames,
  type RowStats,
  type ScoreContext,
} from "./metrics/index";
export { exactSearch, ExactIndex, checkRefine, KERNELS, AUGMENT_MAX_ROWS, type Kernel, type ExactIndexOptions, type SearchOptions, type ExactSearchOptions } from "./exact";
export { ownRow } from "./blocked";
export { expansionOptions, expandQueries, recordExpansion, expansionWeight, rerankInput, type Expansion, type ExpansionPlan } from "./rerank";
export { topK } from "./topk";
export { dotBlock } from "./kernel";
export { imageSsim, rerankWithSsim, SSIM_VARIANTS, SSIM_COLOURS, type SsimOptions, type SsimVariant, type SsimColour, type PixelImage, type SsimRerankOptions } from "./structural-similarity";
export { OnnxDotProduct, gemmModelBytes } from "./onnx-gemm";
export { HnswIndex, HNSW_METRICS, type HnswMetric, type HnswOptions } from "./hnsw";
export {
  ENCODINGS,
  BYTES_PER_VALUE,
  bytesPerVector,
  checkEncoding,
  checkEncodingName,
  checkEncodedVectors,
  encodeVectors,
  decodeVectors,
  decodeRows,
  findBadRows,
  fitI8,
  encodeI8,
  decodeI8,
  encodeF16,
  decodeF16,
  float32ToFloat16Bits,
  float16BitsToFloat32,
  type Encoding,
  type EncodedVectors,
  type I8State,
} from "./encoding";
export { EncodedIndex, encodeForCosine, normaliseRows, neighbourRecall, type EncodedHits, type EncodedSearchOptions, type EncodedIndexOptions, type RowReader } from "./encoded-search";
export { EncodedDotKernel, ENCODED_METRICS, checkEncodedMetric, type EncodedDotKernelOptions } from "./encoded-kernel";
