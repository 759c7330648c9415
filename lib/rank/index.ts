/** Stage "rank": similarity scores, exact and approximate search, query expansion, SSIM and dHash. */
export { METRICS, higherIsBetter, vectorSsim, dataRange, type Metric, type VectorMetric } from "./metrics";
export { rankAll, rankQueries, type RankOptions } from "./exact";
export { topK } from "./topk";
export { dotBlock } from "./kernel";
export { imageSsim, rerankWithSsim, SSIM_VARIANTS, SSIM_COLOURS, type SsimOptions, type SsimVariant, type SsimColour, type PixelImage, type SsimRerankOptions } from "./structural-similarity";
export { ExactIndex, rankAllFast, rankQueriesFast, checkRefine, KERNELS, type Kernel, type ExactIndexOptions, type SearchOptions, type FastRankOptions } from "./search";
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
