/**
 * Vector encodings for stored feature vectors. Memory per vector of dimension d:
 *   f32  4 d bytes   the float32 rows as they are (5,120 bytes at d = 1,280)
 *   f16  2 d bytes   IEEE binary16, round to nearest even (2,560 bytes at d = 1,280); relative error <= 2^-11
 *   i8   1 d bytes   scalar quantisation per dimension j: x ≈ offset[j] + scale[j] * code, code in [-127, 127]
 *                    (1,280 bytes at d = 1,280), plus 2 d numbers of state per index (not per vector)
 * The i8 state is fitted on the database (fitI8) and kept as plain JSON beside the codes, like a fitted
 * scikit-learn transformer: fit once, then encode (transform) and decode (inverse_transform) with it.
 *
 * An encoded collection is `{encoding, dim, count, state, codes}` (EncodedVectors): what a store writes
 * and what the encoded search (encoded-search.ts) reads.
 */
import { CbirError } from "../errors";
import { findBadRows } from "../extract/finite";

export { findBadRows };

export const ENCODINGS = ["f32", "f16", "i8"] as const;
export type Encoding = (typeof ENCODINGS)[number];

/** Bytes each stored value takes. */
export const BYTES_PER_VALUE: Record<Encoding, number> = { f32: 4, f16: 2, i8: 1 };

/** Bytes one stored vector of dimension `dim` takes (the i8 state is per index, see i8StateBytes). */
export function bytesPerVector(encoding: Encoding, dim: number): number {
  return BYTES_PER_VALUE[checkEncodingName(encoding)] * dim;
}

/** The per-dimension scale and offset of i8, fitted on a database; plain JSON. */
export interface I8State {
  scale: number[];
  offset: number[];
}

export type Codes = Float32Array | Uint16Array | Int8Array;

/** An encoded collection: `count` rows of `dim` values, row i at codes[i * dim]. */
export interface EncodedVectors {
  encoding: Encoding;
  dim: number;
  count: number;
  /** i8: the fitted scale/offset; null for f32 and f16. */
  state: I8State | null;
  codes: Codes;
}

export function checkEncodingName(encoding: unknown): Encoding {
  if (!ENCODINGS.includes(encoding as Encoding))
    throw new CbirError("E_BAD_OPTION", `unknown vector encoding ${JSON.stringify(encoding)}.`, { fix: `use one of ${ENCODINGS.join(", ")}.` });
  return encoding as Encoding;
}

/** Refuses vectors whose encoding is not the one expected (an index built as i8 read as f16, say), naming both. */
export function checkEncoding(expected: Encoding, got: { encoding: Encoding }, file?: string): void {
  if (got.encoding !== expected)
    throw new CbirError("E_FINGERPRINT_MISMATCH", `the vectors are encoded as ${got.encoding} but ${expected} was asked for.`, {
      file,
      fix: `pass --vectors ${got.encoding}, or rebuild the index with --vectors ${expected}.`,
    });
}

function refuseBadRows(data: Float32Array, n: number, d: number): void {
  const bad = findBadRows(data, n, d);
  if (bad.length)
    throw new CbirError("E_BAD_OPTION", `${bad.length} vector(s) hold NaN or Infinity (row ${bad.slice(0, 5).join(", ")}${bad.length > 5 ? ", ..." : ""}).`, {
      fix: "drop those rows first (findBadRows lists them).",
    });
}

function checkShape(data: ArrayLike<number>, n: number, d: number): void {
  if (!Number.isInteger(n) || !Number.isInteger(d) || n < 0 || d < 1 || data.length !== n * d)
    throw new CbirError("E_BAD_OPTION", `${data.length} values are not ${n} rows of ${d}.`, { fix: "pass rows x dim values." });
}

// ---------- f16 ----------

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** The binary16 bits nearest to `x` (ties to even; overflow to ±Infinity; subnormals kept; NaN stays NaN). */
export function float32ToFloat16Bits(x: number): number {
  F32[0] = x;
  const b = U32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // binary16 exponent field: float32 bias 127, binary16 bias 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // subnormal binary16: m * 2^-24; the float32 value is M * 2^(exp - 150) with M the 24-bit significand
    const shift = 14 - e;
    if (shift > 24) return sign; // below half the smallest subnormal: zero
    const M = mant | 0x800000;
    let q = M >>> shift;
    const rem = M & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && q & 1)) q++;
    return sign | q; // q = 0x400 is the smallest normal, which the bit layout gives for free
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is right, up to Infinity
  return h;
}

/** The value of binary16 bits. */
export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

let F16_TABLE: Float32Array | undefined;

/** Every binary16 bit pattern's value, built once (256 KiB): decoding is one lookup per value. */
export function float16Table(): Float32Array {
  if (!F16_TABLE) {
    F16_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) F16_TABLE[h] = float16BitsToFloat32(h);
  }
  return F16_TABLE;
}

export function encodeF16(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = float32ToFloat16Bits(data[i]);
  return out;
}

export function decodeF16(codes: Uint16Array, out = new Float32Array(codes.length)): Float32Array {
  const t = float16Table();
  for (let i = 0; i < codes.length; i++) out[i] = t[codes[i]];
  return out;
}

// ---------- i8 ----------

/** Codes span [-I8_MAX, I8_MAX]: symmetric, so -128 never occurs and a code's negation is a code. */
export const I8_MAX = 127;

/**
 * Fits the per-dimension offset (midpoint of the column's range) and scale ((max - min) / 254) on `n`
 * rows of `d`. A constant column gets scale 0: its codes are all 0 and decode exactly to the offset.
 */
export function fitI8(data: Float32Array, n: number, d: number): I8State {
  checkShape(data, n, d);
  refuseBadRows(data, n, d);
  const lo = new Float64Array(d).fill(Infinity);
  const hi = new Float64Array(d).fill(-Infinity);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let k = 0; k < d; k++) {
      const v = data[o + k];
      if (v < lo[k]) lo[k] = v;
      if (v > hi[k]) hi[k] = v;
    }
  }
  const scale: number[] = new Array(d);
  const offset: number[] = new Array(d);
  for (let k = 0; k < d; k++) {
    if (n === 0) {
      scale[k] = 0;
      offset[k] = 0;
      continue;
    }
    offset[k] = (lo[k] + hi[k]) / 2;
    scale[k] = (hi[k] - lo[k]) / (2 * I8_MAX);
  }
  return { scale, offset };
}

/** Checks a state read back from JSON: d finite numbers each, scales >= 0. */
export function checkI8State(state: unknown, d: number): I8State {
  const s = state as I8State;
  const ok = (a: unknown, min: number) => Array.isArray(a) && a.length === d && a.every((v) => typeof v === "number" && Number.isFinite(v) && v >= min);
  if (!s || typeof s !== "object" || !ok(s.scale, 0) || !ok(s.offset, -Infinity))
    throw new CbirError("E_INDEX_CORRUPT", `the i8 quantisation state is not ${d} finite scales (>= 0) and offsets.`, { fix: "rebuild the index." });
  return s;
}

/** Codes of `n` rows under a fitted state: round((x - offset) / scale), clamped to [-127, 127]; scale 0 -> 0. */
export function encodeI8(state: I8State, data: Float32Array, n: number, d: number): Int8Array {
  checkShape(data, n, d);
  refuseBadRows(data, n, d);
  checkI8State(state, d);
  const inv = new Float64Array(d);
  for (let k = 0; k < d; k++) inv[k] = state.scale[k] > 0 ? 1 / state.scale[k] : 0;
  const out = new Int8Array(n * d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let k = 0; k < d; k++) {
      const c = Math.round((data[o + k] - state.offset[k]) * inv[k]);
      out[o + k] = c > I8_MAX ? I8_MAX : c < -I8_MAX ? -I8_MAX : c;
    }
  }
  return out;
}

/** offset + scale * code, per dimension. */
export function decodeI8(state: I8State, codes: Int8Array, n: number, d: number, out = new Float32Array(n * d)): Float32Array {
  checkShape(codes, n, d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let k = 0; k < d; k++) out[o + k] = state.offset[k] + state.scale[k] * codes[o + k];
  }
  return out;
}

// ---------- the collection ----------

/**
 * Encodes `n` rows of `d` (as given: normalise first for cosine). i8 fits its state on these rows unless
 * one is passed (external queries or rows added to an existing index use the index's state). NaN/Inf rows
 * are refused: drop the rows findBadRows names first.
 */
export function encodeVectors(encoding: Encoding, data: Float32Array, n: number, d: number, state?: I8State): EncodedVectors {
  checkEncodingName(encoding);
  checkShape(data, n, d);
  refuseBadRows(data, n, d);
  if (encoding === "f32") return { encoding, dim: d, count: n, state: null, codes: Float32Array.from(data) };
  if (encoding === "f16") return { encoding, dim: d, count: n, state: null, codes: encodeF16(data) };
  const s = state ?? fitI8(data, n, d);
  return { encoding, dim: d, count: n, state: s, codes: encodeI8(s, data, n, d) };
}

/** Checks that `v` is a well-formed encoded collection (codes of the right type and length, state for i8). */
export function checkEncodedVectors(v: EncodedVectors): EncodedVectors {
  checkEncodingName(v.encoding);
  const type = { f32: Float32Array, f16: Uint16Array, i8: Int8Array }[v.encoding];
  if (!(v.codes instanceof type) || v.codes.length !== v.count * v.dim)
    throw new CbirError("E_INDEX_CORRUPT", `${v.encoding} vectors need ${v.count} x ${v.dim} codes in a ${type.name}, got ${v.codes?.length} in a ${v.codes?.constructor?.name}.`, {
      fix: "rebuild the index.",
    });
  if (v.encoding === "i8") checkI8State(v.state, v.dim);
  return v;
}

/** The float32 rows the codes stand for. */
export function decodeVectors(v: EncodedVectors): Float32Array {
  checkEncodedVectors(v);
  if (v.encoding === "f32") return Float32Array.from(v.codes as Float32Array);
  if (v.encoding === "f16") return decodeF16(v.codes as Uint16Array);
  return decodeI8(v.state!, v.codes as Int8Array, v.count, v.dim);
}

/** Rows `rows` decoded (for refining or showing a few vectors without decoding the collection). */
export function decodeRows(v: EncodedVectors, rows: ArrayLike<number>): Float32Array {
  const d = v.dim;
  const out = new Float32Array(rows.length * d);
  const t = v.encoding === "f16" ? float16Table() : undefined;
  for (let r = 0; r < rows.length; r++) {
    const o = rows[r] * d;
    for (let k = 0; k < d; k++) {
      const c = v.codes[o + k];
      out[r * d + k] = v.encoding === "f32" ? c : t ? t[c] : v.state!.offset[k] + v.state!.scale[k] * c;
    }
  }
  return out;
}
