/**
 * Where ONNX Runtime sessions run. onnxruntime-node's `session.run` computes on the calling thread (its
 * promise only defers the call with setImmediate), so in the main thread every batch freezes the event
 * loop: image decoding (sharp, fs) stalls at each step that needs a callback, progress stops, and a
 * pipeline cannot overlap decoding with inference. So by default the session lives in a worker thread;
 * inputs and outputs are copied across (a few ms per batch, against 50-500 ms of inference).
 * The worker is created from an inline script, so it needs no file next to this one (tslab compiles
 * lib/ elsewhere) and resolves onnxruntime-node from here.
 */
import { Worker } from "node:worker_threads";
import type * as Ort from "onnxruntime-node";

export interface OrtRunner {
  /** Runs the graph on one input; resolves to the output values. */
  run(input: Float32Array, dims: number[]): Promise<Float32Array>;
  release(): Promise<void>;
  readonly inWorker: boolean;
}

export interface OrtRunnerSpec {
  /** A .onnx file or the model bytes. */
  model: string | Uint8Array;
  options: Ort.InferenceSession.SessionOptions;
  inputName: string;
  outputName: string;
}

export async function openInProcess(ort: typeof Ort, spec: OrtRunnerSpec): Promise<OrtRunner> {
  const session = typeof spec.model === "string" ? await ort.InferenceSession.create(spec.model, spec.options) : await ort.InferenceSession.create(spec.model, spec.options);
  return {
    inWorker: false,
    async run(input, dims) {
      const result = await session.run({ [spec.inputName]: new ort.Tensor("float32", input, dims) });
      return result[spec.outputName].data as Float32Array;
    },
    release: () => session.release(),
  };
}

const WORKER_SCRIPT = `
const { parentPort, workerData } = require("node:worker_threads");
const ort = require(workerData.ortPath);
let session;
parentPort.on("message", async (msg) => {
  try {
    if (msg.type === "create") {
      session = await ort.InferenceSession.create(msg.model, msg.options);
      parentPort.postMessage({ id: msg.id, ok: true });
    } else if (msg.type === "run") {
      const out = await session.run({ [msg.inputName]: new ort.Tensor("float32", msg.input, msg.dims) });
      const data = out[msg.outputName].data;
      parentPort.postMessage({ id: msg.id, ok: true, data });
    } else if (msg.type === "release") {
      if (session) await session.release();
      session = undefined;
      parentPort.postMessage({ id: msg.id, ok: true });
    }
  } catch (e) {
    parentPort.postMessage({ id: msg.id, ok: false, message: String((e && e.message) || e) });
  }
});
`;

interface Reply {
  id: number;
  ok: boolean;
  data?: Float32Array;
  message?: string;
}

export async function openInWorker(spec: OrtRunnerSpec): Promise<OrtRunner> {
  const worker = new Worker(WORKER_SCRIPT, { eval: true, workerData: { ortPath: require.resolve("onnxruntime-node") } });
  worker.unref(); // an idle backbone must not keep the process alive; pending requests ref it below
  const pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let dead: Error | undefined;
  const failAll = (e: Error) => {
    dead = e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  worker.on("message", (r: Reply) => {
    const p = pending.get(r.id);
    if (!p) return;
    pending.delete(r.id);
    if (pending.size === 0) worker.unref();
    if (r.ok) p.resolve(r);
    else p.reject(new Error(r.message));
  });
  worker.on("error", (e) => failAll(e));
  worker.on("exit", (code) => failAll(new Error(`ONNX Runtime worker exited (code ${code})`)));

  const request = (msg: Record<string, unknown>): Promise<Reply> => {
    if (dead) return Promise.reject(dead);
    const id = nextId++;
    if (pending.size === 0) worker.ref();
    return new Promise<Reply>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...msg, id });
    });
  };

  try {
    await request({ type: "create", model: spec.model, options: spec.options });
  } catch (e) {
    await worker.terminate();
    throw e;
  }
  return {
    inWorker: true,
    async run(input, dims) {
      // Posting a view would copy its whole underlying buffer: send just the batch.
      const own = input.byteOffset === 0 && input.byteLength === input.buffer.byteLength ? input : input.slice();
      const r = await request({ type: "run", input: own, dims, inputName: spec.inputName, outputName: spec.outputName });
      return r.data!;
    },
    async release() {
      try {
        if (!dead) await request({ type: "release" });
      } finally {
        await worker.terminate();
      }
    },
  };
}
