/**
 * Pixel preprocessing, named as in Keras `imagenet_utils.preprocess_input`.
 * Input is RGB uint8 HWC (what lib/prepare/decode returns); output is float32 HWC in the network's range.
 */
import type { PreprocessMode } from "./types";

/** ImageNet channel means in RGB order, as Keras's "caffe" mode subtracts them (after the swap to BGR). */
const IMAGENET_MEAN_RGB = [123.68, 116.779, 103.939] as const;
const TORCH_MEAN = [0.485, 0.456, 0.406] as const;
const TORCH_STD = [0.229, 0.224, 0.225] as const;

/**
 * - `caffe`: RGB to BGR, then subtract the ImageNet mean per channel (no scaling). VGG16/19, ResNet50.
 * - `caffe-swapped-means`: the originals' bug: BGR order but the means applied in RGB order (red and blue
 *   means swapped). Kept only to reproduce their published figures.
 * - `tf`: scale to [-1, 1]. MobileNet v1/v2, InceptionV3 (Keras).
 * - `torch`: scale to [0, 1], then normalise with the ImageNet mean and std per channel.
 * - `unit`: scale to [0, 1]. The nsfwjs models were trained on this.
 */
export function preprocessPixels(rgb: Uint8Array, mode: PreprocessMode, out?: Float32Array): Float32Array {
  const n = rgb.length;
  const y = out ?? new Float32Array(n);
  switch (mode) {
    case "tf":
      for (let i = 0; i < n; i++) y[i] = rgb[i] / 127.5 - 1;
      break;
    case "unit":
      for (let i = 0; i < n; i++) y[i] = rgb[i] / 255;
      break;
    case "torch":
      for (let i = 0; i < n; i += 3)
        for (let c = 0; c < 3; c++) y[i + c] = (rgb[i + c] / 255 - TORCH_MEAN[c]) / TORCH_STD[c];
      break;
    case "caffe":
      // output channel 0 is blue: subtract the blue mean from it
      for (let i = 0; i < n; i += 3) {
        y[i] = rgb[i + 2] - IMAGENET_MEAN_RGB[2];
        y[i + 1] = rgb[i + 1] - IMAGENET_MEAN_RGB[1];
        y[i + 2] = rgb[i] - IMAGENET_MEAN_RGB[0];
      }
      break;
    case "caffe-swapped-means":
      // BGR channels, but the red mean subtracted from blue and the blue mean from red
      for (let i = 0; i < n; i += 3) {
        y[i] = rgb[i + 2] - IMAGENET_MEAN_RGB[0];
        y[i + 1] = rgb[i + 1] - IMAGENET_MEAN_RGB[1];
        y[i + 2] = rgb[i] - IMAGENET_MEAN_RGB[2];
      }
      break;
    default: {
      const never: never = mode;
      throw new Error(`unhandled preprocessing mode ${String(never)}`);
    }
  }
  return y;
}
