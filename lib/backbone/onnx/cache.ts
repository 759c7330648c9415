/**
 * Exported .onnx files are kept in `$CBIR_CACHE_DIR/onnx/<key>.onnx` (default `~/.cache/cbir`), keyed by
 * everything the export depends on: model id, weights hash, cut layer, input size and exporter version.
 * Files are written to a temporary name and renamed, so a crash or a parallel run never leaves a partial
 * file under the final name.
 */
import * as os from "node:os";
import * as path from "node:path";
import { sha256 } from "../../fingerprint";
import { EXPORTER_VERSION } from "../../onnx/export";



export interface OnnxCacheKeyParts {
  id: string;
  weightsHash: string;
  layer: string;
  inputSize: [number, number];
}

export function cbirCacheDir(cacheDir?: string): string {
  return cacheDir ?? process.env.CBIR_CACHE_DIR ?? path.join(os.homedir(), ".cache", "cbir");
}

export function onnxCacheKey(p: OnnxCacheKeyParts): string {
  const canonical = JSON.stringify([EXPORTER_VERSION, p.id, p.weightsHash, p.layer, p.inputSize[0], p.inputSize[1]]);
  return sha256(canonical).slice(0, 32);
}

/** Where the export of these parts is cached. */
export function onnxCacheFile(p: OnnxCacheKeyParts, cacheDir?: string): string {
  return path.join(cbirCacheDir(cacheDir), "onnx", `${onnxCacheKey(p)}.onnx`);
}
