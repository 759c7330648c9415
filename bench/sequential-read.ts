/**
 * The memory bound of a search kernel: the GB/s of a plain sequential read of a buffer, measured as a
 * WebAssembly SIMD loop that sums the buffer as 64-bit lanes (sixteen 16-byte loads per iteration into four
 * accumulators, so the loop waits on memory, not on additions). The buffer is copied into the module's
 * memory once, then read start to end; the copy is not timed. A JS loop reaches only about 2 GB/s here,
 * well below what the native kernels read, so it would not be a bound. With threads > 1 each worker thread
 * reads its own contiguous slice at the same time (the kernels run on as many threads).
 */
import { Worker } from "node:worker_threads";
import { section, sleb, uleb } from "../lib/simd/dots";

/** A hand-assembled module: (memory (export "mem") 1) and sum(start, end) -> i64 over [start, end), STEP-byte steps. */
function sumModuleBytes(): Uint8Array {
  const LOCAL_GET = 0x20;
  const LOCAL_SET = 0x21;
  const LOCAL_TEE = 0x22;
  const SIMD = 0xfd;
  const V128_LOAD = [SIMD, 0x00];
  const I64X2_ADD = [SIMD, 0xce, 0x01];
  const I64X2_EXTRACT = [SIMD, 0x1d];
  const body: number[] = [
    0x01, 0x04, 0x7b, // locals: 4 x v128 (indices 2..5)
    0x03, 0x40, // loop
  ];
  for (let a = 0; a < STEP / 16; a++) body.push(LOCAL_GET, 2 + (a % 4), LOCAL_GET, 0, ...V128_LOAD, 0x04, ...uleb(a * 16), ...I64X2_ADD, LOCAL_SET, 2 + (a % 4));
  body.push(
    LOCAL_GET, 0, 0x41, ...sleb(STEP), 0x6a, LOCAL_TEE, 0, // start += STEP
    LOCAL_GET, 1, 0x49, 0x0d, 0x00, // br_if start < end (unsigned)
    0x0b, // end loop
    LOCAL_GET, 2, LOCAL_GET, 3, ...I64X2_ADD, LOCAL_GET, 4, ...I64X2_ADD, LOCAL_GET, 5, ...I64X2_ADD, LOCAL_TEE, 2,
    ...I64X2_EXTRACT, 0, LOCAL_GET, 2, ...I64X2_EXTRACT, 1, 0x7c, // i64.add
    0x0b,
  );
  const code = [0x01, ...uleb(body.length), ...body];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7e]),
    ...section(3, [0x01, 0x00]),
    ...section(5, [0x01, 0x00, 0x01]),
    ...section(7, [0x02, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x03, 0x73, 0x75, 0x6d, 0x00, 0x00]),
    ...section(10, code),
  ]);
}

/** Bytes summed per loop iteration: 16 loads of 16 bytes, so the loop's own instructions are few per byte. */
const STEP = 256;

export interface ReadBound {
  gbPerS: number;
  bytes: number;
  method: string;
  /** The buffer's sum as 64-bit integers (wrapping): proof that every byte was read. */
  sum: bigint;
}

/** The part of the WebAssembly API used here (tsconfig's lib has no DOM types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** GB/s (1e9 bytes/s) of reading `buf` start to end, median of `reps` passes after one warm-up. */
export function sequentialReadBound(buf: ArrayBufferView, reps = 5): ReadBound {
  const bytes = buf.byteLength - (buf.byteLength % STEP);
  const instance = new Wasm.Instance(new Wasm.Module(sumModuleBytes()));
  const mem = instance.exports.mem as WasmMemory;
  const sum = instance.exports.sum as (start: number, end: number) => bigint;
  const pages = Math.ceil(bytes / 65536) + 1;
  mem.grow(pages - 1);
  new Uint8Array(mem.buffer, 0, bytes).set(new Uint8Array(buf.buffer, buf.byteOffset, bytes));
  const check = sum(0, bytes);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    if (sum(0, bytes) !== check) throw new Error("internal: the read loop is not deterministic");
    times.push(performance.now() - t);
  }
  return { gbPerS: bytes / (median(times) / 1000) / 1e9, bytes, method: "wasm SIMD i64x2 sum, 16 x 16-byte loads per step, one thread", sum: BigInt.asIntN(64, check) };
}

// plain JS for the worker threads: each instantiates the module, copies its slice in, and sums it on "go"
const READ_WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const inst = new WebAssembly.Instance(new WebAssembly.Module(workerData.wasm));
const mem = inst.exports.mem, sum = inst.exports.sum;
const bytes = workerData.slice.byteLength;
mem.grow(Math.ceil(bytes / 65536));
new Uint8Array(mem.buffer, 0, bytes).set(new Uint8Array(workerData.slice));
parentPort.on("message", () => parentPort.postMessage(sum(0, bytes)));
parentPort.postMessage(0n);
`;

/** The same read split over `threads` worker threads reading at once: GB/s of the whole buffer. */
export async function parallelReadBound(buf: ArrayBufferView, threads: number, reps = 5): Promise<ReadBound> {
  if (threads <= 1) return sequentialReadBound(buf, reps);
  const total = buf.byteLength - (buf.byteLength % (STEP * threads));
  const per = total / threads;
  const bytesView = new Uint8Array(buf.buffer, buf.byteOffset, total);
  const wasm = sumModuleBytes();
  const workers = Array.from({ length: threads }, (_, i) => {
    const slice = bytesView.slice(i * per, (i + 1) * per).buffer;
    return new Worker(READ_WORKER, { eval: true, workerData: { wasm, slice }, transferList: [slice] });
  });
  const next = (w: Worker) => new Promise<bigint>((resolve, reject) => {
    w.once("message", resolve);
    w.once("error", reject);
  });
  try {
    await Promise.all(workers.map(next)); // ready
    const round = async () => {
      const replies = workers.map(next);
      for (const w of workers) w.postMessage("go");
      return Promise.all(replies);
    };
    const first = await round();
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t = performance.now();
      const sums = await round();
      times.push(performance.now() - t);
      if (sums.some((x, j) => x !== first[j])) throw new Error("internal: the read loop is not deterministic");
    }
    const sum = BigInt.asIntN(64, first.reduce((a, b) => a + b, 0n));
    return { gbPerS: total / (median(times) / 1000) / 1e9, bytes: total, method: `wasm SIMD i64x2 sum, 16 x 16-byte loads per step, ${threads} worker threads on contiguous slices at once`, sum };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
