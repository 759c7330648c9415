/**
 * Exact int8 dot products of one query against every database row, in WebAssembly SIMD (the fixed-width
 * set of Node 20; relaxed-simd needs a flag and is not used), with a bounded top-k per thread.
 *
 * Codes are stored in a shared WebAssembly.Memory as uint8 (c + 128), rows padded with zeros to a
 * multiple of 16 bytes, ROWS_PER_STEP rows interleaved chunk by chunk (see create). Read as little-endian i16 lanes, a 16-byte chunk w holds the even bytes in
 * w & 0x00ff and the odd bytes in w >> 8 (unsigned): two single-instruction splits, no shuffles. The
 * query is stored split the same way (even and odd codes as i16x8, 32 bytes per chunk), so a chunk costs
 * per row: one load, and, shr_u, two i32x4.dot_i16x8_s (pmaddwd) and two i32x4.add. ROWS_PER_STEP rows
 * share each query load. The sums are exact integers: Σ (c + 128) u = u·c + 128 Σ u, and the caller
 * subtracts 128 Σ u. (|u| <= 127, c + 128 <= 255: a lane adds at most d / 4 products of 32,385, exact in
 * i32 for d up to 265,000.)
 *
 * Threads: with threads = 1 the calling thread scans every row; with T > 1, T persistent worker threads
 * (started once per kernel) each scan their own contiguous row range into their own heap, and the calling
 * thread merges the T candidate lists. Workers share the codes through the memory, never copy them.
 */
import { Worker } from "node:worker_threads";
import { section, sleb, str, uleb, vec } from "../simd/dots";

/** Rows scored per step of the kernel's outer loop: they share the query loads. */
export const ROWS_PER_STEP = 4;
/** Rows per kernel call: their sums (16 KiB) stay in L1 for the heap scan that follows. */
const BLOCK_ROWS = 4096;

// Opcodes (WebAssembly core + fixed-width SIMD)
const I32 = 0x7f, V128 = 0x7b;
const BLOCK = 0x02, LOOP = 0x03, END = 0x0b, BR = 0x0c, BR_IF = 0x0d, EMPTY = 0x40;
const GET = 0x20, SET = 0x21, TEE = 0x22;
const I32_CONST = 0x41, I32_EQZ = 0x45, I32_LT_U = 0x49, I32_ADD = 0x6a, I32_SUB = 0x6b, I32_STORE = 0x36;
const SIMD = 0xfd;
const memarg = (align: number, offset: number) => [align, ...uleb(offset)];
const v128Load = (offset: number) => [SIMD, 0x00, ...memarg(4, offset)];
const v128Const = (bytes: number[]) => [SIMD, 0x0c, ...bytes];
const V128_AND = [SIMD, 0x4e];
const I16X8_SHR_U = [SIMD, ...uleb(0x8d)];
const I32X4_ADD = [SIMD, ...uleb(0xae)];
const I32X4_DOT_I16X8_S = [SIMD, ...uleb(0xba)];
const i32x4Lane = (i: number) => [SIMD, 0x1b, i];

/**
 * dots(q, p, groups, out): for `groups` steps of R rows starting at byte p (each step R * stride bytes,
 * its rows interleaved by 16-byte chunks), the i32 sums Σ_k row[k] * query[k] into out, out + 4, ...
 * The query at q is split as described in the header (2 * stride bytes).
 */
function dotsBody(stride: number, R: number): number[] {
  // params 0:q 1:p 2:groups 3:out; i32 locals 4:pk 5:pEnd 6:qk; v128 locals 7:mask 8:qe 9:qo 10:w 11..:acc
  const [q, p, groups, out, pk, pEnd, qk, mask, qe, qo, w] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const acc = Array.from({ length: R }, (_, r) => 11 + r);
  const code: number[] = [];
  code.push(...v128Const(Array.from({ length: 16 }, (_, i) => (i % 2 ? 0x00 : 0xff))), SET, mask);
  code.push(BLOCK, EMPTY, LOOP, EMPTY);
  code.push(GET, groups, I32_EQZ, BR_IF, 1);
  for (const a of acc) code.push(...v128Const(new Array<number>(16).fill(0)), SET, a);
  code.push(GET, p, TEE, pk, I32_CONST, ...sleb(R * stride), I32_ADD, SET, pEnd, GET, q, SET, qk);
  code.push(LOOP, EMPTY);
  code.push(GET, qk, ...v128Load(0), SET, qe, GET, qk, ...v128Load(16), SET, qo);
  for (let r = 0; r < R; r++) {
    code.push(GET, pk, ...v128Load(r * 16), SET, w);
    code.push(GET, acc[r], GET, w, GET, mask, ...V128_AND, GET, qe, ...I32X4_DOT_I16X8_S, ...I32X4_ADD);
    code.push(GET, w, I32_CONST, 8, ...I16X8_SHR_U, GET, qo, ...I32X4_DOT_I16X8_S, ...I32X4_ADD, SET, acc[r]);
  }
  code.push(GET, qk, I32_CONST, 32, I32_ADD, SET, qk);
  code.push(GET, pk, I32_CONST, ...sleb(16 * R), I32_ADD, TEE, pk, GET, pEnd, I32_LT_U, BR_IF, 0);
  code.push(END);
  for (let r = 0; r < R; r++) {
    code.push(GET, out);
    code.push(GET, acc[r], ...i32x4Lane(0), GET, acc[r], ...i32x4Lane(1), I32_ADD, GET, acc[r], ...i32x4Lane(2), I32_ADD, GET, acc[r], ...i32x4Lane(3), I32_ADD);
    code.push(I32_STORE, ...memarg(2, r * 4));
  }
  code.push(GET, out, I32_CONST, ...sleb(4 * R), I32_ADD, SET, out);
  code.push(GET, p, I32_CONST, ...sleb(R * stride), I32_ADD, SET, p);
  code.push(GET, groups, I32_CONST, 1, I32_SUB, SET, groups);
  code.push(BR, 0, END, END);
  const body = [...vec([[3, I32], [4 + R, V128]]), ...code, END];
  return [...uleb(body.length), ...body];
}

/** The module for rows of `stride` bytes; its memory import is shared with `pages` 64 KiB pages. */
export function i8DotModuleBytes(stride: number, pages: number, rowsPerStep = ROWS_PER_STEP): Uint8Array {
  if (stride % 16 !== 0 || stride < 16) throw new Error(`internal: row stride ${stride} is not a positive multiple of 16`);
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32]]), 0x00]])),
    ...section(2, vec([[...str("env"), ...str("mem"), 0x02, 0x03, ...uleb(pages), ...uleb(pages)]])),
    ...section(3, vec([[0x00]])),
    ...section(7, vec([[...str("dots"), 0x00, 0x00]])),
    ...section(10, vec([dotsBody(stride, rowsPerStep)])),
  ]);
}

export type I8DotsFn = (q: number, p: number, groups: number, out: number) => void;

/** What one thread needs to scan rows: its kernel instance, a view of the memory, and its own areas. */
export interface I8Slot {
  dots: I8DotsFn;
  i32: Int32Array;
  /** Byte offsets of this thread's split query and its sums area (BLOCK_ROWS i32). */
  qPtr: number;
  outPtr: number;
  stride: number;
  rowsPerStep: number;
  blockRows: number;
}

/**
 * The best `cand` rows of [start, end) by the raw sum with the slot's query, ties to the lower row, into
 * heapSum / heapRow (unordered); returns how many were kept. `start` is a multiple of the row step. Runs
 * on the calling thread and, as its source text, in the workers: it may use nothing from outside.
 */
export function i8TopRange(slot: I8Slot, start: number, end: number, cand: number, heapSum: Int32Array, heapRow: Int32Array): number {
  const { dots, i32, qPtr, outPtr, stride, rowsPerStep, blockRows } = slot;
  const o = outPtr >> 2;
  if (cand < 1) return 0;
  let size = 0;
  let floor = 0;
  for (let s = start; s < end; s += blockRows) {
    const nb = Math.min(blockRows, end - s);
    dots(qPtr, s * stride, Math.ceil(nb / rowsPerStep), outPtr);
    for (let j = 0; j < nb; j++) {
      const v = i32[o + j];
      if (size === cand && v <= floor) continue; // rows arrive in increasing order: an equal sum never displaces
      let i: number;
      if (size < cand) {
        // sift up from the end (root = the worst kept: lowest sum, then highest row)
        i = size++;
        while (i > 0) {
          const p = (i - 1) >> 1;
          if (heapSum[p] < v) break; // the parent is worse already (an equal sum has a lower row: better)
          heapSum[i] = heapSum[p];
          heapRow[i] = heapRow[p];
          i = p;
        }
      } else {
        // replace the root, sift down
        i = 0;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= size) break;
          const r = l + 1;
          let w = l;
          if (r < size && (heapSum[r] < heapSum[l] || (heapSum[r] === heapSum[l] && heapRow[r] > heapRow[l]))) w = r;
          if (heapSum[w] > v || (heapSum[w] === v && heapRow[w] < s + j)) break;
          heapSum[i] = heapSum[w];
          heapRow[i] = heapRow[w];
          i = w;
        }
      }
      heapSum[i] = v;
      heapRow[i] = s + j;
      if (size === cand) floor = heapSum[0];
    }
  }
  return size;
}

/** The slice of the WebAssembly API used here (tsconfig has no DOM lib, where its types live). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => { buffer: SharedArrayBuffer };
}
const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

let available: boolean | undefined;

/** True when this runtime has WebAssembly SIMD and shared memory (the kernel compiles and instantiates). */
export function wasmI8Available(): boolean {
  if (available === undefined) {
    try {
      const memory = new wasm!.Memory({ initial: 1, maximum: 1, shared: true });
      new wasm!.Instance(new wasm!.Module(i8DotModuleBytes(16, 1)), { env: { mem: memory } });
      available = typeof SharedArrayBuffer !== "undefined";
    } catch {
      available = false;
    }
  }
  return available;
}

// plain JS: each worker instantiates the module on the shared memory and scans its range on request
const WORKER_SCRIPT = `
const { parentPort, workerData } = require("node:worker_threads");
${i8TopRange.toString()}
const { memory, bytes, slot: s } = workerData;
const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem: memory } });
const slot = { ...s, dots: inst.exports.dots, i32: new Int32Array(memory.buffer) };
const q16 = new Int16Array(memory.buffer, s.qPtr, s.stride);
parentPort.on("message", (m) => {
  try {
    q16.set(m.query);
    const heapSum = new Int32Array(m.cand), heapRow = new Int32Array(m.cand);
    const size = i8TopRange(slot, m.start, m.end, m.cand, heapSum, heapRow);
    parentPort.postMessage({ sums: heapSum.subarray(0, size), rows: heapRow.subarray(0, size) });
  } catch (e) {
    parentPort.postMessage({ error: String((e && e.stack) || e) });
  }
});
parentPort.postMessage({ ready: true });
`;

interface WorkerReply {
  ready?: boolean;
  error?: string;
  sums?: Int32Array;
  rows?: Int32Array;
}

/** Candidates of one query: database rows (increasing) and their exact dots u·c. */
export interface I8Candidates {
  rows: Int32Array;
  dots: Float64Array;
}

export class WasmI8Kernel {
  private readonly workers: Worker[] = [];
  private readonly ranges: [number, number][] = [];
  private readonly ready: Promise<void> | undefined;
  private local: I8Slot | undefined;
  private pending: ((r: WorkerReply) => void)[] = [];
  private failure: Error | undefined;
  private closed = false;
  /** Searches run one at a time (the workers hold one query each): each waits for the one before. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly memory: { buffer: SharedArrayBuffer },
    private readonly bytes: Uint8Array,
    private readonly layout: { stride: number; slots: { qPtr: number; outPtr: number }[] },
    readonly count: number,
    readonly dim: number,
    readonly threads: number,
  ) {
    const { stride } = layout;
    const groups = Math.ceil(count / ROWS_PER_STEP);
    if (threads === 1) {
      this.local = this.bindSlot(threads);
      return;
    }
    const readies: Promise<void>[] = [];
    for (let t = 0; t < threads; t++) {
      const g0 = Math.floor((groups * t) / threads);
      const g1 = Math.floor((groups * (t + 1)) / threads);
      this.ranges.push([g0 * ROWS_PER_STEP, Math.min(count, g1 * ROWS_PER_STEP)]);
      const slot = { ...layout.slots[t], stride, rowsPerStep: ROWS_PER_STEP, blockRows: BLOCK_ROWS };
      const worker = new Worker(WORKER_SCRIPT, { eval: true, workerData: { memory, bytes, slot } });
      readies.push(
        new Promise<void>((resolve, reject) => {
          worker.on("message", (m: WorkerReply) => {
            if (m.ready) resolve();
            else this.pending[t]?.(m);
          });
          const fail = (e: Error) => {
            if (this.closed) return;
            this.failure ??= e;
            reject(e);
            this.pending[t]?.({ error: e.message });
          };
          worker.on("error", (e) => fail(new Error(`i8 search worker ${t} failed: ${e.message}`)));
          worker.on("exit", (code) => fail(new Error(`i8 search worker ${t} exited (code ${code})`)));
        }),
      );
      worker.unref(); // idle workers do not keep the process alive (after the listeners, which would ref it); a search refs them while it waits
      this.workers.push(worker);
    }
    this.ready = Promise.all(readies).then(() => undefined);
    this.ready.catch(() => undefined); // awaited by search(); this keeps an early failure from being "unhandled"
  }

  /**
   * A kernel over `n` int8 rows of `d` (copied into shared WebAssembly memory as c + 128), or undefined
   * when WebAssembly SIMD or shared memory is unavailable or the codes do not fit in 4 GiB.
   */
  static create(codes: Int8Array, n: number, d: number, threads = 1): WasmI8Kernel | undefined {
    if (!wasmI8Available() || n < 1) return undefined;
    const stride = Math.ceil(d / 16) * 16;
    const paddedRows = Math.ceil(n / ROWS_PER_STEP) * ROWS_PER_STEP;
    const codeBytes = paddedRows * stride;
    const slotBytes = 2 * stride + 4 * BLOCK_ROWS;
    // one slot per worker, and one for the calling thread (threads = 1, and allDots)
    const total = codeBytes + (threads + 1) * slotBytes;
    const pages = Math.ceil(total / 65536);
    if (pages > 65535) return undefined;
    let memory: { buffer: SharedArrayBuffer };
    let bytes: Uint8Array;
    try {
      bytes = i8DotModuleBytes(stride, pages);
      memory = new wasm!.Memory({ initial: pages, maximum: pages, shared: true });
    } catch {
      return undefined;
    }
    const u8 = new Uint8Array(memory.buffer, 0, codeBytes);
    // interleaved by steps: chunk c of the step's rows r = 0..R-1 at step start + (c * R + r) * 16, so the
    // kernel reads memory strictly in order (with R rows at stride apart, this machine's prefetch fell
    // to a third of the sequential read rate). Padding stays 0: the query is 0 there.
    const R = ROWS_PER_STEP;
    const src32 = codes.byteOffset % 4 === 0 && d % 16 === 0 ? new Uint32Array(codes.buffer, codes.byteOffset, (n * d) >> 2) : undefined;
    const dst32 = new Uint32Array(memory.buffer, 0, codeBytes >> 2);
    for (let i = 0; i < n; i++) {
      const base = (i - (i % R)) * stride + (i % R) * 16;
      for (let c = 0; c < d; c += 16) {
        const dst = base + c * R;
        if (src32) {
          // four bytes at a time: c + 128 is c with its sign bit flipped
          const s4 = (i * d + c) >> 2;
          const d4 = dst >> 2;
          for (let w = 0; w < 4; w++) dst32[d4 + w] = src32[s4 + w] ^ 0x80808080;
        } else for (let k = c; k < Math.min(d, c + 16); k++) u8[dst + k - c] = codes[i * d + k] + 128;
      }
    }
    const slots = Array.from({ length: threads + 1 }, (_, t) => ({ qPtr: codeBytes + t * slotBytes, outPtr: codeBytes + t * slotBytes + 2 * stride }));
    return new WasmI8Kernel(memory, bytes, { stride, slots }, n, d, threads);
  }

  private bindSlot(t: number): I8Slot {
    const instance = new wasm!.Instance(new wasm!.Module(this.bytes), { env: { mem: this.memory } });
    return { dots: instance.exports.dots as I8DotsFn, i32: new Int32Array(this.memory.buffer), ...this.layout.slots[t], stride: this.layout.stride, rowsPerStep: ROWS_PER_STEP, blockRows: BLOCK_ROWS };
  }

  /** The int8 query u split into even and odd codes per 16-byte chunk, as the kernel reads it (stride i16). */
  private splitQuery(u: Int8Array): Int16Array {
    const out = new Int16Array(this.layout.stride);
    for (let k = 0; k < this.dim; k++) {
      const chunk = k >> 4;
      const lane = (k & 15) >> 1;
      out[chunk * 16 + (k & 1) * 8 + lane] = u[k];
    }
    return out;
  }

  /** The best `cand` rows by u·c (ties to the lower row), in increasing row order, with their exact dots. */
  search(u: Int8Array, cand: number): Promise<I8Candidates> {
    const run = this.queue.then(() => this.searchNow(u, cand));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async searchNow(u: Int8Array, cand: number): Promise<I8Candidates> {
    if (u.length !== this.dim) throw new Error(`internal: query of ${u.length} codes for rows of ${this.dim}`);
    if (this.closed) throw new Error("internal: the i8 kernel was disposed");
    cand = Math.min(cand, this.count);
    let shift = 0;
    for (let k = 0; k < u.length; k++) shift += 128 * u[k];
    const query = this.splitQuery(u);
    let parts: { sums: Int32Array; rows: Int32Array }[];
    if (this.local) {
      new Int16Array(this.memory.buffer, this.local.qPtr, this.layout.stride).set(query);
      const sums = new Int32Array(cand);
      const rows = new Int32Array(cand);
      const size = i8TopRange(this.local, 0, this.count, cand, sums, rows);
      parts = [{ sums: sums.subarray(0, size), rows: rows.subarray(0, size) }];
    } else {
      for (const w of this.workers) w.ref(); // before any await: an unref'd worker would let the process exit mid-search
      try {
        await this.ready;
        if (this.failure) throw this.failure;
        const replies = this.workers.map(
          (w, t) =>
            new Promise<WorkerReply>((resolve) => {
              this.pending[t] = resolve;
              const [start, end] = this.ranges[t];
              w.postMessage({ query, start, end, cand: Math.min(cand, end - start) });
            }),
        );
        const got = await Promise.all(replies);
        const bad = got.find((r) => r.error);
        if (bad) throw this.failure ?? new Error(`i8 search worker failed: ${bad.error}`);
        parts = got as { sums: Int32Array; rows: Int32Array }[];
      } finally {
        this.pending = [];
        for (const w of this.workers) w.unref();
      }
    }
    // the union of the per-range bests holds the global best; keep the best cand, ties to the lower row
    const all: { row: number; sum: number }[] = [];
    for (const p of parts) for (let i = 0; i < p.rows.length; i++) all.push({ row: p.rows[i], sum: p.sums[i] });
    all.sort((a, b) => b.sum - a.sum || a.row - b.row);
    const best = all.slice(0, cand).sort((a, b) => a.row - b.row);
    return { rows: Int32Array.from(best, (c) => c.row), dots: Float64Array.from(best, (c) => c.sum - shift) };
  }

  /** Every row's exact u·c (for tests and checks: one pass on the calling thread). */
  allDots(u: Int8Array): Float64Array {
    const slot = this.local ?? this.bindSlot(this.threads);
    new Int16Array(this.memory.buffer, slot.qPtr, this.layout.stride).set(this.splitQuery(u));
    let shift = 0;
    for (let k = 0; k < u.length; k++) shift += 128 * u[k];
    const out = new Float64Array(this.count);
    const o = slot.outPtr >> 2;
    for (let s = 0; s < this.count; s += BLOCK_ROWS) {
      const nb = Math.min(BLOCK_ROWS, this.count - s);
      slot.dots(slot.qPtr, s * this.layout.stride, Math.ceil(nb / ROWS_PER_STEP), slot.outPtr);
      for (let j = 0; j < nb; j++) out[s + j] = slot.i32[o + j] - shift;
    }
    return out;
  }

  /** Stops the workers. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
