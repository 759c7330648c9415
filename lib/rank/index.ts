/** Stage "rank": similarity scores, exact and approximate search, query expansion, SSIM and dHash. */
export { METRICS, higherIsBetter, vectorSsim, dataRange, type Metric, type VectorMetric } from "./metrics";
export { rankAll, rankQueries, type RankOptions } from "./exact";
export { topK } from "./topk";
export { dotBlock } from "./kernel";
export { imageSsim, rerankWithSsim, SSIM_VARIANTS, SSIM_COLOURS, type SsimOptions, type SsimVariant, type SsimColour, type PixelImage, type SsimRerankOptions } from "./structural-similarity";
export { dhashBits, dhashFeatures, hammingDistance, rgbToGrey } from "./dhash";
export { ExactIndex, rankAllFast, rankQueriesFast, KERNELS, type Kernel, type ExactIndexOptions, type SearchOptions, type FastRankOptions } from "./search";
export { OnnxDotProduct, gemmModelBytes } from "./onnx-gemm";
export { HnswIndex, HNSW_METRICS, type HnswMetric, type HnswOptions } from "./hnsw";
export { loadPixels, pixelLoader, pixelMatrix, type PixelOptions } from "./pixels";
