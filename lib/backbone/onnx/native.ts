/**
 * Native .onnx files as backbones: the model runs as it is in ONNX Runtime (no tfjs, no export). Its input
 * must be one float32 image batch, NHWC or NCHW with 3 channels; the cut is one of its graph outputs. What
 * the file declares (input size, output shapes) is read from an ONNX Runtime session's metadata.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as Ort from "onnxruntime-node";
import { CbirError, isCbirError } from "../../errors";
import { sha256 } from "../../fingerprint";
import type { LayerInfo } from "../types";
import type { OnnxFileModel } from "../source";
import { loadOnnxRuntime, onnxThreads, sessionOptions, wrapRunner, type OnnxBackbone, type OnnxBackboneMeta, type OnnxBackboneOptions } from "./index";
import { openInProcess, openInWorker, type OrtRunner } from "./session";

/** Preprocessing of a native model unless told otherwise: pixels to -1..1 (the "tf" mode). */
export const NATIVE_ONNX_PREPROCESSING = "tf" as const;
/** Input size of a native model whose input dimensions are symbolic. */
export const NATIVE_ONNX_INPUT_SIZE: [number, number] = [224, 224];

const FIX = "give a complete .onnx model file whose one input is a float32 image batch, NHWC or NCHW with 3 channels.";

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}

/** ONNX Runtime for a native model, which has no tfjs to fall back on: the fix must not suggest `--runtime tfjs`. */
function nativeRuntime(file: string): typeof Ort {
  try {
    return loadOnnxRuntime();
  } catch (e) {
    if (!isCbirError(e) || e.code !== "E_NO_RUNTIME") throw e;
    throw new CbirError("E_NO_RUNTIME", e.message, { file, fix: "reinstall onnxruntime-node (npm ci): a native .onnx model runs with ONNX Runtime only.", cause: e });
  }
}

function dims(shape: ReadonlyArray<number | string>): number[] {
  return shape.map((d) => (typeof d === "number" && d > 0 ? d : -1));
}

/** Reads an .onnx file's inputs and outputs, and hashes its bytes; E_MODEL_FILE naming the file when it is not usable. */
export async function readOnnxFile(file: string): Promise<OnnxFileModel> {
  const abs = path.resolve(file);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(abs);
  } catch (e) {
    throw new CbirError("E_MODEL_FILE", `the ONNX model cannot be read (${(e as NodeJS.ErrnoException).code ?? firstLine(e)}).`, { file: abs, fix: FIX });
  }
  const ort = nativeRuntime(abs);
  let session: Ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new CbirError("E_MODEL_FILE", `not a readable ONNX model (${firstLine(e)}).`, { file: abs, fix: FIX, cause: e });
  }
  try {
    const inputs = session.inputMetadata;
    const input = inputs[0];
    if (inputs.length !== 1 || !input.isTensor || input.type !== "float32" || input.shape.length !== 4)
      throw new CbirError("E_MODEL_FILE", `the ONNX model's input is not one float32 image batch (inputs: ${inputs.map((i) => i.name).join(", ")}).`, { file: abs, fix: FIX });
    const shape = dims(input.shape);
    const layout = shape[3] === 3 ? "NHWC" : shape[1] === 3 ? "NCHW" : undefined;
    if (!layout) throw new CbirError("E_MODEL_FILE", `the ONNX model's input '${input.name}' [${input.shape.join(", ")}] has no 3-channel axis.`, { file: abs, fix: FIX });
    const [h, w] = layout === "NHWC" ? [shape[1], shape[2]] : [shape[2], shape[3]];
    const size: [number, number] | undefined = h > 0 && w > 0 ? [h, w] : undefined;
    const outputs: LayerInfo[] = session.outputMetadata.map((o) => ({ name: o.name, type: "output", outputShape: o.isTensor ? dims(o.shape).slice(1) : [], params: 0 }));
    if (!outputs.length) throw new CbirError("E_MODEL_FILE", "the ONNX model has no outputs.", { file: abs, fix: FIX });
    const weightsHash = sha256(bytes);
    return {
      kind: "onnx",
      id: `onnx:${abs}@${weightsHash.slice(0, 16)}`,
      file: abs,
      defaults: { layer: outputs[0].name, inputSize: size ?? NATIVE_ONNX_INPUT_SIZE, preprocessing: NATIVE_ONNX_PREPROCESSING, resize: "bilinear" },
      input: { name: input.name, layout, size },
      outputs,
      weightsHash,
    };
  } finally {
    await session.release();
  }
}

/** Opens a session on a native .onnx file, cut at `meta.layer` (one of its outputs). */
export async function openNativeOnnxBackbone(model: OnnxFileModel, meta: Omit<OnnxBackboneMeta, "outputShape">, opts: OnnxBackboneOptions = {}): Promise<OnnxBackbone> {
  const threads = onnxThreads(opts);
  const ort = nativeRuntime(model.file);
  const spec = { model: model.file, options: sessionOptions(threads, opts.spinWait ?? false), inputName: model.input.name, outputName: meta.layer };
  let runner: OrtRunner;
  try {
    runner = opts.inWorker === false ? await openInProcess(ort, spec) : await openInWorker(spec);
  } catch (e) {
    throw new CbirError("E_MODEL_FILE", `not a readable ONNX model (${firstLine(e)}).`, { file: model.file, fix: FIX, cause: e });
  }
  const declared = model.outputs.find((o) => o.name === meta.layer)!.outputShape;
  let outputShape = declared;
  if (!declared.length || declared.some((d) => d < 0)) {
    // Open dimensions: one blank image tells how many values the cut gives per image.
    const [h, w] = meta.inputSize;
    const probe = model.input.layout === "NCHW" ? [1, 3, h, w] : [1, h, w, 3];
    try {
      outputShape = [(await runner.run(new Float32Array(h * w * 3), probe)).length];
    } catch (e) {
      await runner.release();
      throw new CbirError("E_BAD_OPTION", `${model.file} cannot run on ${h}x${w} inputs (${firstLine(e)}).`, { file: model.file, fix: "give the input size the model was made for (loadBackbone's inputSize option)." });
    }
  }
  return wrapRunner(runner, { ...meta, outputShape }, threads, model.file, false, model.input.layout);
}
