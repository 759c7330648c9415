/**
 * The pieces of an i8 dot product that every i8 kernel shares (the single-query and batched search of
 * encoded-search.ts, the all-pairs kernel of encoded-kernel.ts). Rows are coded per dimension j as
 * x_j ≈ o_j + s_j c_j, so for any float query q:  q·x ≈ q·o + Σ_j (q_j s_j) c_j.  The weights w_j = q_j s_j
 * are quantised to int8 with one scale per query (u_j = round(w_j / t), t = max|w| / 127) and the integer
 * dot product u·c is exact: the score is q·o + t (u·c), the dot product with the decoded row up to the
 * query's own rounding. ONNX Runtime's fast MatMulInteger path is uint8 x int8, so the database codes are
 * shifted to c + 128, which adds 128 Σ_j u_j to every row's dot product: subtracted through `shift`.
 */
import { I8_MAX, type I8State } from "./encoding";

export interface I8QueryCodes {
  /** nQ x d int8 codes of the queries with the database scales folded in, row-major. */
  codes: Int8Array;
  /** Each query's scale t (0 when every weight is 0: all rows then score q·o). */
  scale: Float64Array;
  /** Each query's q·offset, the same for every row. */
  base: Float64Array;
}

/** The int8 codes u, scales t and q·o of `nQ` float query rows of `d` against a database coded with `state`. */
export function i8QueryCodes(state: I8State, q: Float32Array, nQ: number, d: number): I8QueryCodes {
  const { scale, offset } = state;
  const codes = new Int8Array(nQ * d);
  const t = new Float64Array(nQ);
  const base = new Float64Array(nQ);
  const w = new Float64Array(d);
  for (let i = 0; i < nQ; i++) {
    let max = 0;
    let qo = 0;
    for (let k = 0; k < d; k++) {
      const x = q[i * d + k];
      w[k] = x * scale[k];
      qo += x * offset[k];
      if (Math.abs(w[k]) > max) max = Math.abs(w[k]);
    }
    base[i] = qo;
    if (max === 0) continue; // every code 0, t 0: all rows score q·o (a constant column has scale 0: no division)
    t[i] = max / I8_MAX;
    const inv = I8_MAX / max;
    for (let k = 0; k < d; k++) codes[i * d + k] = Math.round(w[k] * inv);
  }
  return { codes, scale: t, base };
}

/**
 * The query codes transposed to d x nQ (the right operand of MatMulInteger(db, qt)) and, per query, the
 * 128 Σ u_j that uint8 database codes add to its dot products.
 */
export function transposeQueryCodes(u: Int8Array, nQ: number, d: number): { qt: Int8Array; shift: Float64Array } {
  const qt = new Int8Array(d * nQ);
  const shift = new Float64Array(nQ);
  for (let i = 0; i < nQ; i++) {
    let sum = 0;
    for (let k = 0; k < d; k++) {
      qt[k * nQ + i] = u[i * d + k];
      sum += u[i * d + k];
    }
    shift[i] = 128 * sum;
  }
  return { qt, shift };
}

/** c + 128 for every code: the uint8 operand of MatMulInteger. */
export function uint8Codes(codes: Int8Array): Uint8Array {
  const out = new Uint8Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = codes[i] + 128;
  return out;
}
