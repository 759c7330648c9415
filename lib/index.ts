/**
 * The public API: stage functions and types, one module per stage
 * (prepare -> backbone/extract -> reduce -> rank/store -> evaluate -> plot), plus the pipeline that
 * chains them. The CLI, the notebooks and the tests all call these.
 */
export * from "./types";
export * from "./errors";
export * from "./report";
export * from "./fingerprint";
export * from "./config";
export { scanFolder, outputStem, outputStems, isImageName, IMAGE_EXTENSIONS, type ScanOptions, type ScanResult } from "./prepare/scan";
export { fsPath, readableName } from "./prepare/names";
export { labelFromName, labelFromFolder, readLabelsCsv, LABEL_SOURCES, type LabelSource } from "./prepare/labels";
export { decodeImage, decodeThumbnail, areaResize, type DecodeOptions, type DecodedImage } from "./prepare/decode";
export { DEFAULT_DECODE_LIMITS, decodeLimits, setDecodeLimits, type DecodeLimits } from "./prepare/budget";
export * from "./backbone/index";
export { extractFeatures, backboneFingerprint, autoBatchSize, type ExtractOptions, type ExtractResult } from "./extract/features";
export { colorHistogram } from "./extract/histogram";
export { dhashBits, hammingDistance, rgbToGrey } from "./extract/dhash";
export { loadPixels, pixelMatrix, type PixelOptions } from "./extract/pixels";
export * from "./reduce/index";
export { POOLINGS, POOLING_METHODS, poolFeatures, pooledDim, poolingNames, registerPooling, type Pooling, type PoolingMethod, type PoolOptions } from "./extract/pooling/index";
export * from "./rank/index";
export * from "./evaluate/index";
export * from "./store/index";
export * from "./embed/index";
export * from "./plot/index";
export * from "./learn/index";
export * from "./pipeline/index";
export { notebookReporter } from "./notebook";
export { writeFileAtomic, writeFileAtomicSync } from "./fsutil";
