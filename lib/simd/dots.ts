/**
 * A tiny WebAssembly SIMD kernel for the dot products of the t-SNE neighbour search: one row against
 * groups of four rows, f32x4 lanes. V8's scalar loops reach about 2 GFLOP/s here; this runs several times
 * faster and is what makes 5,000 x 1,280 inputs quick. The module is assembled below from its opcodes
 * (a few dozen bytes, no toolchain, no file to load) and instantiated synchronously, so t-SNE stays a
 * synchronous function. A variant whose memory is shared lets worker threads (tsne-pool.ts) use one copy
 * of the input. When WebAssembly SIMD is not available, `createDotMatrix` returns undefined and the caller
 * uses its JavaScript loop.
 *
 * The function, in WAT terms:
 *   (func (export "rowDots") (param $a i32) (param $b i32) (param $groups i32) (param $bytes i32) (param $out i32)
 *     for each group of 4 rows starting at $b (row stride $bytes):
 *       acc0..acc3 = 0; for k in 0..$bytes step 16: va = load(a+k); acc_r += va * load(b_r+k)
 *       store the horizontal sums of acc0..acc3 at $out, $out+4, $out+8, $out+12; $out += 16
 */

// Opcodes used (WebAssembly core + fixed-width SIMD).
const I32 = 0x7f, V128 = 0x7b;
const BLOCK = 0x02, LOOP = 0x03, END = 0x0b, BR = 0x0c, BR_IF = 0x0d, EMPTY = 0x40;
const GET = 0x20, SET = 0x21, TEE = 0x22;
const I32_CONST = 0x41, I32_EQZ = 0x45, I32_LT_U = 0x49, I32_ADD = 0x6a, I32_SUB = 0x6b;
const F32_ADD = 0x92, F32_STORE = 0x38;
const SIMD = 0xfd;
const v128Load = [SIMD, 0x00, 0x04, 0x00]; // align 16, offset 0
const v128Zero = [SIMD, 0x0c, ...new Array<number>(16).fill(0)];
const f32x4Add = [SIMD, 0xe4, 0x01];
const f32x4Mul = [SIMD, 0xe6, 0x01];
const lane = (i: number) => [SIMD, 0x1f, i];

/** Unsigned LEB128, WebAssembly's integer encoding (also used by the bench's read-bound module). */
export function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
/** Signed LEB128 (i32.const immediates). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
}
/** A name: its length, then its UTF-8 bytes. */
export const str = (s: string) => [...uleb(s.length), ...Buffer.from(s, "utf8")];
export const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
/** A vector of items: their count, then each. */
export const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];

function rowDotsBody(): number[] {
  // params 0:a 1:b 2:groups 3:bytes 4:out; locals 5:k 6:b1 7:b2 8:b3 (i32) 9..12:acc0..acc3 13:va (v128)
  const [a, b, groups, bytes, out, k, b1, b2, b3] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const acc = [9, 10, 11, 12];
  const va = 13;
  const rows = [b, b1, b2, b3];
  const code: number[] = [];
  code.push(BLOCK, EMPTY, LOOP, EMPTY);
  code.push(GET, groups, I32_EQZ, BR_IF, 1);
  code.push(GET, b, GET, bytes, I32_ADD, TEE, b1, GET, bytes, I32_ADD, TEE, b2, GET, bytes, I32_ADD, SET, b3);
  for (const r of acc) code.push(...v128Zero, SET, r);
  code.push(I32_CONST, 0, SET, k);
  code.push(LOOP, EMPTY);
  code.push(GET, a, GET, k, I32_ADD, ...v128Load, SET, va);
  for (let r = 0; r < 4; r++) {
    code.push(GET, acc[r], GET, va, GET, rows[r], GET, k, I32_ADD, ...v128Load, ...f32x4Mul, ...f32x4Add, SET, acc[r]);
  }
  code.push(GET, k, I32_CONST, 16, I32_ADD, TEE, k, GET, bytes, I32_LT_U, BR_IF, 0);
  code.push(END);
  for (let r = 0; r < 4; r++) {
    code.push(GET, out);
    code.push(GET, acc[r], ...lane(0), GET, acc[r], ...lane(1), F32_ADD, GET, acc[r], ...lane(2), F32_ADD, GET, acc[r], ...lane(3), F32_ADD);
    code.push(F32_STORE, 0x02, ...uleb(r * 4));
  }
  code.push(GET, out, I32_CONST, 16, I32_ADD, SET, out);
  code.push(GET, b3, GET, bytes, I32_ADD, SET, b);
  code.push(GET, groups, I32_CONST, 1, I32_SUB, SET, groups);
  code.push(BR, 0, END, END);
  const locals = vec([[4, I32], [5, V128]]);
  const body = [...locals, ...code, END];
  return [...uleb(body.length), ...body];
}

/** The module; with `shared`, its memory import is a shared memory (so worker threads can use it). */
export function dotModuleBytes(shared = false): Uint8Array {
  // memory import limits: flags 0 = min only; 3 = shared with min and max (max 65536 pages = 4 GiB)
  const limits = shared ? [0x03, 0x01, ...uleb(65536)] : [0x00, 0x01];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), 0x00]])),
    ...section(2, vec([[...str("env"), ...str("mem"), 0x02, ...limits]])),
    ...section(3, vec([[0x00]])),
    ...section(7, vec([[...str("rowDots"), 0x00, 0x00]])),
    ...section(10, vec([rowDotsBody()])),
  ];
  return Uint8Array.from(bytes);
}

export interface DotKernel {
  /** Row-major copy of the input, rows padded to a multiple of 4 floats, row count to a multiple of 4. */
  matrix: Float32Array;
  /** Padded row length in floats. */
  stride: number;
  /** Dot products of row `i` with rows `j0 .. j0 + 4 * groups - 1` (j0 a multiple of 4), into `out`. */
  rowDots(i: number, j0: number, groups: number): Float32Array;
}

/** The slice of the WebAssembly API used here (tsconfig has no DOM lib, where its types live). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
}
/** A WebAssembly.Memory; a shared one can be posted to worker threads. */
export interface WasmMemory {
  buffer: ArrayBuffer | SharedArrayBuffer;
}
export type RowDotsFn = (a: number, b: number, groups: number, bytes: number, out: number) => void;
const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

const compiled: Record<"plain" | "shared", object | null | undefined> = { plain: undefined, shared: undefined };

function compiledModule(shared: boolean): object | null {
  const key = shared ? "shared" : "plain";
  if (compiled[key] === undefined) {
    try {
      compiled[key] = wasm ? new wasm.Module(dotModuleBytes(shared)) : null;
    } catch {
      compiled[key] = null;
    }
  }
  return compiled[key] ?? null;
}

/**
 * The input copied into WebAssembly memory for the kernel: rows padded to a multiple of 4 floats, row
 * count to a multiple of 4, followed by `slots` output areas of maxGroups * 16 bytes (one per thread).
 */
export interface DotMatrix {
  memory: WasmMemory;
  shared: boolean;
  /** The padded rows (a view on memory). */
  matrix: Float32Array;
  /** Padded row length in floats. */
  stride: number;
  /** Byte offset of output area 0, and the size of each area. */
  outBase: number;
  outBytes: number;
}

/**
 * Copies `data` into a new WebAssembly memory (shared when asked and possible), or returns undefined
 * when WebAssembly SIMD is unavailable or the data too large, so the caller uses its JavaScript loop.
 */
export function createDotMatrix(data: Float32Array, n: number, dim: number, maxGroups: number, slots = 1, shared = false): DotMatrix | undefined {
  if (!wasm || !compiledModule(shared)) return undefined;
  const stride = Math.ceil(dim / 4) * 4;
  const rows = Math.ceil(n / 4) * 4;
  const outBytes = maxGroups * 16;
  const total = rows * stride * 4 + outBytes * slots;
  if (total > 2 ** 31) return undefined; // leave very large inputs to the JavaScript loop
  const pages = Math.ceil(total / 65536);
  let memory: WasmMemory;
  try {
    memory = shared ? new wasm.Memory({ initial: pages, maximum: pages, shared: true }) : new wasm.Memory({ initial: pages });
  } catch {
    return undefined;
  }
  const matrix = new Float32Array(memory.buffer, 0, rows * stride);
  for (let i = 0; i < n; i++) matrix.set(data.subarray(i * dim, (i + 1) * dim), i * stride);
  return { memory, shared, matrix, stride, outBase: rows * stride * 4, outBytes };
}

/** The kernel function on `dm`'s memory and the output area of `slot`. */
export function bindDots(dm: DotMatrix, slot = 0): { fn: RowDotsFn; out: Float32Array; outPtr: number } {
  const module = compiledModule(dm.shared);
  if (!wasm || !module) throw new Error("WebAssembly SIMD kernel unavailable");
  const instance = new wasm.Instance(module, { env: { mem: dm.memory } });
  const outPtr = dm.outBase + slot * dm.outBytes;
  return { fn: instance.exports.rowDots as RowDotsFn, out: new Float32Array(dm.memory.buffer, outPtr, dm.outBytes / 4), outPtr };
}

/** A kernel holding a padded copy of `data`, or undefined when WebAssembly SIMD is unavailable or the data too large. */
export function createDotKernel(data: Float32Array, n: number, dim: number, maxGroups: number): DotKernel | undefined {
  const dm = createDotMatrix(data, n, dim, maxGroups);
  if (!dm) return undefined;
  const { fn, out, outPtr } = bindDots(dm);
  const rowBytes = dm.stride * 4;
  return {
    matrix: dm.matrix,
    stride: dm.stride,
    rowDots(i: number, j0: number, groups: number): Float32Array {
      fn(i * rowBytes, j0 * rowBytes, groups, rowBytes, outPtr);
      return out;
    },
  };
}
