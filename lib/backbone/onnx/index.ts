/**
 * Backbones run by ONNX Runtime (onnxruntime-node, CPU): the truncated tfjs model is exported to ONNX
 * once (cached on disk), then every batch runs in native code, 10x or more faster than tfjs-wasm.
 *
 * Threads: one intra-op thread per core (at most 4) by default, and idle threads never spin-wait.
 * Measured by bench/extract.ts on 2 cores, images/s for 1 thread / 2 threads:
 * - idle machine (load 0.1-1.3): MobileNetV2 224 batch 1: 232 / 299, batch 16: 109 / 349; InceptionV3 299
 *   batch 1: 18.8 / 32.9, batch 16: 15.3 / 29.8.
 * - shared machine (load 7.5-8.7): MobileNetV2 batch 1: 120 / 107, batch 16: 73 / 63; InceptionV3 batch 1:
 *   7.0 / 12.1, batch 16: 5.2 / 6.2; spinning threads collapsed there (MobileNetV2 batch 1: 41).
 * A second thread loses at most ~15% when the other core is busy and gains up to 3x when it is free, so
 * the default uses the cores; `threads` or CBIR_ONNX_THREADS=1 pins one when the machine is shared.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import type * as tf from "@tensorflow/tfjs";
import type * as Ort from "onnxruntime-node";
import { CbirError, invalidOption } from "../../errors";
import { reporterOf, type Reporter } from "../../report";
import type { Backbone, BackboneMeta } from "../types";
import { onnxCacheFile } from "./cache";
import { writeFileAtomicSync } from "../../fsutil";
import { exportLayersModel, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME, type OnnxExport } from "../../onnx/export";
import { openInProcess, openInWorker, type OrtRunner } from "./session";

export { exportLayersModel, EXPORTER_VERSION, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME, type OnnxExport } from "../../onnx/export";
export { EXPORTABLE_LAYERS, type ExportableLayer } from "../../onnx/layers";
export { BatchTuner, type BatchTunerOptions } from "./batch";
export { onnxCacheFile, onnxCacheKey, cbirCacheDir, type OnnxCacheKeyParts } from "./cache";

/** Intra-op threads when none are asked for: the cores, at most 4 (see the header for the measurements). */
export const DEFAULT_ONNX_THREADS = Math.max(1, Math.min(4, os.availableParallelism ? os.availableParallelism() : os.cpus().length));

export type OnnxBackboneMeta = BackboneMeta;

export interface OnnxBackboneOptions {
  /** Intra-op threads (default `$CBIR_ONNX_THREADS`, else DEFAULT_ONNX_THREADS). */
  threads?: number;
  /** Cache root (default `$CBIR_CACHE_DIR` or `~/.cache/cbir`); the model goes to `<cacheDir>/onnx/<key>.onnx`. */
  cacheDir?: string;
  /**
   * Let idle intra-op threads spin-wait for work (default false). Spinning may gain a little on cores nobody
   * else uses and loses badly on shared ones (MobileNetV2, 2 threads, busy machine: 41 instead of 107 images/s).
   */
  spinWait?: boolean;
  /**
   * Run the session in a worker thread (default true), so that inference does not freeze the event loop
   * (see session.ts); false runs it on the calling thread, which saves a copy of each batch.
   */
  inWorker?: boolean;
}

export interface OnnxBackbone extends Backbone {
  readonly runtime: "onnx";
  readonly threads: number;
  /** The cached .onnx file, or undefined when it could not be written (the model then lives in memory only). */
  readonly onnxFile?: string;
  /** True when the session came from an existing cached file (no export this time). */
  readonly fromCache: boolean;
  /** True when the session runs in a worker thread. */
  readonly inWorker: boolean;
}

let ortModule: typeof Ort | undefined;

/** How onnxruntime-node is loaded; a seam so tests can simulate a missing native runtime. */
export const ortLoader: { load(): typeof Ort } = {
  load: () => require("onnxruntime-node") as typeof Ort,
};

/** onnxruntime-node, loaded on first use; when it cannot load, E_NO_RUNTIME says so and how to mend it. */
export function loadOnnxRuntime(): typeof Ort {
  if (ortModule) return ortModule;
  try {
    ortModule = ortLoader.load();
    return ortModule;
  } catch (e) {
    throw new CbirError("E_NO_RUNTIME", `ONNX Runtime (onnxruntime-node) cannot be loaded (${String((e as Error)?.message ?? e).split("\n")[0]}).`, {
      fix: "reinstall onnxruntime-node (npm ci), or use --runtime tfjs.",
      cause: e,
    });
  }
}

/** Forgets the loaded runtime, so the next use goes through `ortLoader` again (tests). */
export function resetOnnxRuntime(): void {
  ortModule = undefined;
}

/** The intra-op thread count: the option, else `$CBIR_ONNX_THREADS`, else DEFAULT_ONNX_THREADS; validated. */
export function onnxThreads(opts: OnnxBackboneOptions): number {
  // loadBackbone passes no options: CBIR_ONNX_THREADS reaches the thread count from the CLI and notebooks.
  const fromEnv = process.env.CBIR_ONNX_THREADS;
  const threads = opts.threads ?? (fromEnv ? Number(fromEnv) : DEFAULT_ONNX_THREADS);
  if (!Number.isInteger(threads) || threads < 1 || threads > 256)
    throw opts.threads === undefined ? invalidOption("CBIR_ONNX_THREADS", "integer from 1 to 256", fromEnv) : invalidOption("threads", "integer from 1 to 256", opts.threads);
  return threads;
}

export function sessionOptions(threads: number, spinWait: boolean): Ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    extra: { session: { intra_op: { allow_spinning: spinWait ? "1" : "0" } } },
  };
}

function checkMeta(model: tf.LayersModel, meta: OnnxBackboneMeta): void {
  const shape = model.inputs[0]?.shape;
  const [h, w] = meta.inputSize;
  if (shape && shape.length === 4 && ((shape[1] !== null && shape[1] !== h) || (shape[2] !== null && shape[2] !== w)))
    throw invalidOption("meta.inputSize", `the model's input size ${shape[1]}x${shape[2]}`, `${h}x${w}`);
}

/** Exports (or reuses the cached export of) a truncated layers model and opens an ONNX Runtime session on it. */
export async function createOnnxBackbone(
  model: tf.LayersModel,
  meta: OnnxBackboneMeta,
  reporter?: Reporter,
  opts: OnnxBackboneOptions = {},
): Promise<OnnxBackbone> {
  const rep = reporterOf(reporter);
  const threads = onnxThreads(opts);
  checkMeta(model, meta);
  const ort = loadOnnxRuntime();
  const options = sessionOptions(threads, opts.spinWait ?? false);
  // Without a weights hash two different weight sets would share a cache entry: export afresh instead.
  const cacheable = Boolean(meta.weightsHash) && meta.weightsHash !== "none";
  const file = cacheable ? onnxCacheFile(meta, opts.cacheDir) : undefined;

  const open = (source: string | Uint8Array): Promise<OrtRunner> => {
    const spec = { model: source, options, inputName: ONNX_INPUT_NAME, outputName: ONNX_OUTPUT_NAME };
    return opts.inWorker === false ? openInProcess(ort, spec) : openInWorker(spec);
  };

  let runner: OrtRunner | undefined;
  let fromCache = false;
  let onnxFile = file;
  if (file && fs.existsSync(file)) {
    try {
      runner = await open(file);
      fromCache = true;
      rep.log(`onnx: reusing ${file}`);
    } catch (e) {
      rep.warn(`cached ONNX model ${file} could not be loaded (${String((e as Error).message).split("\n")[0]}); exporting it again.`, file);
      fs.rmSync(file, { force: true });
    }
  }
  if (!runner) {
    const exported: OnnxExport = exportLayersModel(model, { graphName: `${meta.id}:${meta.layer}`, inputSize: meta.inputSize });
    rep.log(
      `onnx: exported ${meta.id} cut at ${meta.layer}: ${exported.layerCount} layers, ${exported.nodeCount} nodes, ` +
        `${exported.foldedBatchNorms} batch norms folded, ${(exported.bytes.byteLength / 1e6).toFixed(1)} MB`,
    );
    if (file) {
      try {
        writeFileAtomicSync(file, exported.bytes);
      } catch (e) {
        onnxFile = undefined;
        rep.warn(`cannot cache the ONNX model at ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); it is kept in memory only.`, file);
      }
    }
    runner = await open(onnxFile ?? exported.bytes);
  }
  return wrapRunner(runner, meta, threads, onnxFile, fromCache);
}

/**
 * A Backbone around an open session. Batches arrive NHWC; with `layout` "NCHW" (native models that take
 * channels first) each batch is transposed before it is run.
 */
export function wrapRunner(
  runner: OrtRunner,
  meta: OnnxBackboneMeta,
  threads: number,
  onnxFile: string | undefined,
  fromCache: boolean,
  layout: "NHWC" | "NCHW" = "NHWC",
): OnnxBackbone {
  const [h, w] = meta.inputSize;
  const perImage = meta.outputShape.reduce((a, b) => a * b, 1);
  let disposed = false;
  return {
    id: meta.id,
    layer: meta.layer,
    inputSize: [h, w],
    preprocessing: meta.preprocessing,
    resize: meta.resize,
    outputShape: [...meta.outputShape],
    weightsHash: meta.weightsHash,
    runtime: "onnx",
    threads,
    onnxFile,
    fromCache,
    inWorker: runner.inWorker,
    async infer(batch: Float32Array, n: number): Promise<Float32Array> {
      if (disposed) throw new Error(`backbone ${meta.id} was disposed`);
      if (!Number.isInteger(n) || n < 1) throw invalidOption("n", "positive integer", n);
      if (!(batch instanceof Float32Array) || batch.length !== n * h * w * 3)
        throw invalidOption("batch", `Float32Array of ${n} x ${h} x ${w} x 3 = ${n * h * w * 3} values`, batch?.length ?? batch);
      const data = layout === "NCHW" ? await runner.run(nhwcToNchw(batch, n, h, w), [n, 3, h, w]) : await runner.run(batch, [n, h, w, 3]);
      if (data.length !== n * perImage)
        throw new Error(`ONNX output of ${meta.id} has ${data.length} values, expected ${n} x ${meta.outputShape.join("x")}`);
      return data;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      runner.release().catch(() => undefined);
    },
  };
}

function nhwcToNchw(batch: Float32Array, n: number, h: number, w: number): Float32Array {
  const out = new Float32Array(batch.length);
  const plane = h * w;
  for (let i = 0; i < n; i++) {
    const base = i * plane * 3;
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[base + c * plane + p] = batch[base + p * 3 + c];
  }
  return out;
}
