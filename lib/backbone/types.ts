/**
 * What every loaded, truncated network looks like to the rest of the toolkit, whatever its source
 * (nsfwjs bundle, tfjs model.json, model zoo, Keras .h5) and runtime (tfjs-wasm, ONNX Runtime).
 */
export const PREPROCESS_MODES = ["caffe", "caffe-swapped-means", "tf", "torch", "unit"] as const;
export type PreprocessMode = (typeof PREPROCESS_MODES)[number];

// resizing is decoding's business (lib/prepare/decode.ts); re-exported here because every backbone declares one
import { RESIZE_MODES, type ResizeMode } from "../prepare/decode";
export { RESIZE_MODES, type ResizeMode };

export const RUNTIMES = ["tfjs", "onnx"] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

export interface LayerInfo {
  name: string;
  type: string;
  /** Output shape without the batch dimension, e.g. [7, 7, 1280]. */
  outputShape: number[];
  params: number;
}

export interface Backbone {
  /** Identity used in fingerprints, e.g. "nsfwjs:inception_v3", "zoo:mobilenet_v1_0.75_224", "file:/abs/model.json". */
  readonly id: string;
  /** The layer the network is cut at. */
  readonly layer: string;
  /** Input [height, width]. */
  readonly inputSize: [number, number];
  readonly preprocessing: PreprocessMode;
  readonly resize: ResizeMode;
  /** Output shape of the cut layer for one image, without batch, e.g. [7, 7, 1280] or [4096]. */
  readonly outputShape: number[];
  /** sha256 of the weights, for the fingerprint. */
  readonly weightsHash: string;
  readonly runtime: RuntimeName;
  /**
   * Runs the truncated network on `n` images already preprocessed, NHWC float32 of length
   * n * h * w * 3; returns the cut layer's outputs, n * prod(outputShape) values, image after image.
   */
  infer(batch: Float32Array, n: number): Promise<Float32Array>;
  /** Releases tensors and sessions. */
  dispose(): void;
}

/** Everything a backbone is besides its runtime (also what the ONNX exporter receives). */
export type BackboneMeta = Pick<Backbone, "id" | "layer" | "inputSize" | "preprocessing" | "resize" | "outputShape" | "weightsHash">;
