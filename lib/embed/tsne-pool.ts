/**
 * Where the t-SNE kernels (tsne-kernels.ts) run: on the calling thread alone (LocalExecutor), or on it
 * and T - 1 worker threads that share the arrays through SharedArrayBuffers (TsneWorkerPool).
 *
 * The algorithm is written once, as generators ("steps") that yield an operation code whenever the
 * kernels must run; `runSteps` drives them synchronously on the calling thread, `runStepsAsync` on a
 * pool. Per operation the pool costs one Atomics.notify and one wait (tens of microseconds), which is
 * why 1,000 gradient iterations can each be split between threads.
 *
 * The worker script is plain JavaScript made from the kernels' compiled text, so workers need no
 * TypeScript loader (under tsx as under tslab). A worker that throws reports the error, which rejects the
 * run; one that dies is noticed within tens of milliseconds. Callers close the pool in a finally block.
 */
import * as os from "node:os";
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import { invalidOption } from "../errors";
import { bindDots, dotModuleBytes, type DotMatrix } from "../simd/dots";
import { CTRL, KERNELS, OP, emptyKernelState, tsneRunOp, type KernelState, type OpCode } from "./tsne-kernels";

/** Default thread count: the cores, at most 4 (beyond that the serial tree build dominates). */
export function defaultTsneThreads(): number {
  return Math.max(1, Math.min(4, os.availableParallelism ? os.availableParallelism() : os.cpus().length));
}

/** The thread count: the option, else $CBIR_TSNE_THREADS (read at each call), else defaultTsneThreads(). */
export function tsneThreads(option?: number): number {
  const fromEnv = process.env.CBIR_TSNE_THREADS;
  const threads = option ?? (fromEnv ? Number(fromEnv) : defaultTsneThreads());
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw option === undefined ? invalidOption("CBIR_TSNE_THREADS", "integer from 1 to 64", fromEnv) : invalidOption("threads", "integer from 1 to 64", option);
  }
  return threads;
}

/** Fields of KernelState that steps may set (the per-thread ones are set by bindDotMatrix). */
export type KernelPatch = Partial<Omit<KernelState, "t" | "T" | "dots" | "out" | "outPtr" | "progress" | "refresh" | "stack">>;

export interface TsneExecutor {
  readonly threads: number;
  /** True when arrays must live in shared memory (workers run). */
  readonly shared: boolean;
  f64(length: number): Float64Array;
  i32(length: number): Int32Array;
  /** `a` itself, or a copy in shared memory when workers run. */
  share<A extends Float64Array | Int32Array>(a: A): A;
  /** Sets these fields on every thread's state. */
  bind(patch: KernelPatch): void;
  /** Gives every thread the SIMD dot kernel on `dm` and its own output area. */
  bindDotMatrix(dm: DotMatrix): void;
  /** Called on the calling thread with the number of neighbour tiles claimed so far (or null). */
  setProgress(fn: ((claimed: number) => void) | null): void;
  /** Starts `op` on the workers without the calling thread, which joins it by yielding JOIN. */
  begin(op: OpCode): void;
  /** Tells the threads in the forces operation that the quadtree is built (and bound). */
  treeReady(): void;
}

/** Yielded by steps after `begin`: the calling thread joins the running operation and waits for it. */
export const JOIN = -1;

/** A generator that yields an operation (begin and join it) or JOIN each time the kernels must run. */
export type Steps<R> = Generator<OpCode | typeof JOIN, R, void>;

export class LocalExecutor implements TsneExecutor {
  readonly threads = 1;
  readonly shared = false;
  private readonly S = emptyKernelState(0, 1);
  private readonly ctrl = new Int32Array(CTRL.length);
  f64(length: number): Float64Array {
    return new Float64Array(length);
  }
  i32(length: number): Int32Array {
    return new Int32Array(length);
  }
  share<A extends Float64Array | Int32Array>(a: A): A {
    return a;
  }
  bind(patch: KernelPatch): void {
    Object.assign(this.S, patch);
  }
  bindDotMatrix(dm: DotMatrix): void {
    const d = bindDots(dm, 0);
    Object.assign(this.S, { dots: d.fn, out: d.out, outPtr: d.outPtr, rowBytes: dm.stride * 4 });
  }
  setProgress(fn: ((claimed: number) => void) | null): void {
    this.S.progress = fn;
  }
  begin(op: OpCode): void {
    const ctrl = this.ctrl;
    ctrl[CTRL.claim] = 0;
    ctrl[CTRL.op] = op;
    ctrl[CTRL.go]++;
  }
  treeReady(): void {
    this.ctrl[CTRL.tree] = this.ctrl[CTRL.go];
  }
  join(): void {
    tsneRunOp(this.S, this.ctrl, this.ctrl[CTRL.op]);
  }
}

/** Runs steps to completion on the calling thread. */
export function runSteps<R>(steps: Steps<R>, exec: LocalExecutor = new LocalExecutor()): R {
  for (let r = steps.next(); ; r = steps.next()) {
    // (casts: TypeScript 5.0 without strictNullChecks, as in tslab, does not narrow on r.done)
    if (r.done) return r.value as R;
    const op = r.value as OpCode | typeof JOIN;
    if (op !== JOIN) exec.begin(op);
    exec.join();
  }
}

/** Runs steps to completion on a pool (the pool stays open: close it in a finally block). */
export async function runStepsAsync<R>(steps: Steps<R>, pool: TsneWorkerPool): Promise<R> {
  for (let r = steps.next(); ; r = steps.next()) {
    if (r.done) return r.value as R;
    const op = r.value as OpCode | typeof JOIN;
    if (op !== JOIN) pool.begin(op);
    await pool.join();
  }
}

const WORKER_PRELUDE = `"use strict";
const { workerData, parentPort, receiveMessageOnPort } = require("node:worker_threads");
// esbuild (tsx) wraps nested functions in __name(); the kernels avoid them, but should one slip in:
var __name = function (f) { return f; };
`;

const WORKER_MAIN = `
const ctrl = new Int32Array(workerData.ctrl);
const S = emptyKernelState(workerData.t, workerData.T);
let gen = 0;
S.refresh = function () {
  if (Atomics.load(ctrl, ${CTRL.gen}) !== gen) receive();
};
let dotModule = null;
function receive() {
  for (;;) {
    const m = receiveMessageOnPort(workerData.port);
    if (m === undefined) return;
    gen = m.message.gen;
    const patch = m.message.patch;
    if (patch.dotMatrix) {
      const dm = patch.dotMatrix;
      delete patch.dotMatrix;
      if (dotModule === null) dotModule = new WebAssembly.Module(workerData.wasm);
      const instance = new WebAssembly.Instance(dotModule, { env: { mem: dm.memory } });
      S.dots = instance.exports.rowDots;
      S.outPtr = dm.outBase + S.t * dm.outBytes;
      S.out = new Float32Array(dm.memory.buffer, S.outPtr, dm.outBytes / 4);
      S.rowBytes = dm.stride * 4;
    }
    Object.assign(S, patch);
  }
}
try {
  parentPort.postMessage({ type: "ready" });
  let seen = 0;
  for (;;) {
    Atomics.wait(ctrl, ${CTRL.go}, seen);
    seen = Atomics.load(ctrl, ${CTRL.go});
    const op = Atomics.load(ctrl, ${CTRL.op});
    if (op === ${OP.exit}) break;
    if (Atomics.load(ctrl, ${CTRL.gen}) !== gen) receive();
    tsneRunOp(S, ctrl, op);
    Atomics.add(ctrl, ${CTRL.done}, 1);
    Atomics.notify(ctrl, ${CTRL.done});
  }
} catch (e) {
  parentPort.postMessage({ type: "error", message: String((e && e.message) || e) });
  Atomics.store(ctrl, ${CTRL.error}, 1);
  Atomics.add(ctrl, ${CTRL.done}, 1);
  Atomics.notify(ctrl, ${CTRL.done});
}
`;

let workerScript: string | undefined;

/** The worker's source: the kernels' own compiled text between a prelude and the wait-run loop. */
export function tsneWorkerScript(): string {
  workerScript ??= WORKER_PRELUDE + [...KERNELS, emptyKernelState].map((f) => f.toString()).join("\n") + WORKER_MAIN;
  return workerScript;
}

const isShared = (v: unknown): boolean =>
  !ArrayBuffer.isView(v) || (typeof SharedArrayBuffer !== "undefined" && (v as ArrayBufferView).buffer instanceof SharedArrayBuffer);

/** Milliseconds the calling thread blocks waiting for workers before it lets the event loop run. */
const WAIT_SLICE_MS = 20;

let aliveWorkers = 0;

/** t-SNE worker threads started and not yet exited, over all pools (0 whenever no t-SNE is running). */
export function tsneWorkersAlive(): number {
  return aliveWorkers;
}

export class TsneWorkerPool implements TsneExecutor {
  readonly shared = true;
  private readonly S: KernelState;
  private readonly ctrl: Int32Array;
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private readonly ready: Promise<void>;
  private started = false;
  private closing = false;
  private gen = 0;
  private exited = 0;
  private failure: Error | undefined;
  private onFailure: ((e: Error) => void) | undefined;
  private readonly failed: Promise<Error>;

  /** Starts threads - 1 workers; they come up while the caller prepares its data. */
  constructor(readonly threads: number) {
    this.S = emptyKernelState(0, threads);
    this.ctrl = new Int32Array(new SharedArrayBuffer(CTRL.length * 4));
    this.failed = new Promise<Error>((resolve) => (this.onFailure = resolve));
    const fail = (e: Error) => {
      if (this.closing || this.failure) return;
      this.failure = e;
      this.onFailure?.(e);
    };
    const readies: Promise<void>[] = [];
    const wasm = dotModuleBytes(true);
    for (let t = 1; t < threads; t++) {
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(tsneWorkerScript(), {
        eval: true,
        workerData: { t, T: threads, ctrl: this.ctrl.buffer, port: port2, wasm },
        transferList: [port2],
      });
      readies.push(
        new Promise<void>((resolve, reject) => {
          worker.on("message", (m: { type: string; message?: string }) => {
            if (m.type === "ready") resolve();
            else if (m.type === "error") fail(new Error(`t-SNE worker ${t} failed: ${m.message}`));
          });
          worker.on("error", (e) => fail(new Error(`t-SNE worker ${t} failed: ${e.message}`)));
          worker.on("exit", (code) => {
            this.exited++;
            aliveWorkers--;
            fail(new Error(`t-SNE worker ${t} exited (code ${code})`));
          });
          void this.failed.then(reject);
        }),
      );
      aliveWorkers++;
      this.workers.push(worker);
      this.ports.push(port1);
    }
    this.ready = Promise.all(readies).then(() => undefined);
    this.ready.catch(() => undefined); // awaited by run(); this only keeps an early failure from being "unhandled"
  }

  f64(length: number): Float64Array {
    return new Float64Array(new SharedArrayBuffer(8 * length));
  }
  i32(length: number): Int32Array {
    return new Int32Array(new SharedArrayBuffer(4 * length));
  }
  share<A extends Float64Array | Int32Array>(a: A): A {
    if (isShared(a)) return a;
    const copy = (a instanceof Float64Array ? this.f64(a.length) : this.i32(a.length)) as A;
    copy.set(a);
    return copy;
  }

  bind(patch: KernelPatch): void {
    for (const [key, v] of Object.entries(patch)) {
      if (!isShared(v)) throw new Error(`t-SNE pool: ${key} is not in shared memory (bug)`);
    }
    Object.assign(this.S, patch);
    this.post(patch);
  }

  bindDotMatrix(dm: DotMatrix): void {
    if (!dm.shared) throw new Error("t-SNE pool: the dot matrix is not in shared memory (bug)");
    const d = bindDots(dm, 0);
    Object.assign(this.S, { dots: d.fn, out: d.out, outPtr: d.outPtr, rowBytes: dm.stride * 4 });
    this.post({ dotMatrix: { memory: dm.memory, outBase: dm.outBase, outBytes: dm.outBytes, stride: dm.stride } });
  }

  setProgress(fn: ((claimed: number) => void) | null): void {
    this.S.progress = fn;
  }

  private post(patch: Record<string, unknown>): void {
    this.gen++;
    for (const port of this.ports) port.postMessage({ gen: this.gen, patch });
    Atomics.store(this.ctrl, CTRL.gen, this.gen);
  }

  /** Starts `op` on the workers (they may still be starting: they pick it up when they come up). */
  begin(op: OpCode): void {
    if (this.failure) throw this.failure;
    const ctrl = this.ctrl;
    Atomics.store(ctrl, CTRL.claim, 0);
    Atomics.store(ctrl, CTRL.done, 0);
    Atomics.store(ctrl, CTRL.op, op);
    Atomics.add(ctrl, CTRL.go, 1);
    Atomics.notify(ctrl, CTRL.go);
  }

  treeReady(): void {
    Atomics.store(this.ctrl, CTRL.tree, Atomics.load(this.ctrl, CTRL.go));
    Atomics.notify(this.ctrl, CTRL.tree);
  }

  /** Runs the begun operation on this thread too, then waits for the workers; rejects if one fails. */
  async join(): Promise<void> {
    if (!this.started) {
      await this.ready;
      this.started = true;
    }
    if (this.failure) throw this.failure;
    const ctrl = this.ctrl;
    tsneRunOp(this.S, ctrl, Atomics.load(ctrl, CTRL.op));
    const W = this.workers.length;
    for (;;) {
      const done = Atomics.load(ctrl, CTRL.done);
      if (done >= W) break;
      if (Atomics.wait(ctrl, CTRL.done, done, WAIT_SLICE_MS) === "timed-out") {
        // A worker that died cannot say so here: let the event loop deliver its "exit" or "error".
        await new Promise((resolve) => setImmediate(resolve));
        if (this.failure) throw this.failure;
      }
    }
    if (Atomics.load(ctrl, CTRL.error) !== 0) throw this.failure ?? (await this.failed);
  }

  /** Stops and terminates the workers. Safe to call twice, and after a failure. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const ctrl = this.ctrl;
    Atomics.store(ctrl, CTRL.op, OP.exit);
    Atomics.store(ctrl, CTRL.claim, 1 << 30); // no more items for a worker still in an operation
    Atomics.store(ctrl, CTRL.tree, Atomics.add(ctrl, CTRL.go, 1) + 1); // nor a wait for a tree that will not come
    Atomics.notify(ctrl, CTRL.tree);
    Atomics.notify(ctrl, CTRL.go);
    for (const port of this.ports) port.close();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** Workers that have not exited (0 once close() has resolved). */
  get liveWorkers(): number {
    return this.workers.length - this.exited;
  }
}
