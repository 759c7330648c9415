/**
 * The JS dot-product kernel: C = A · B^T for row-major A (nA x d) and B (nB x d). Register-blocked 4 x 2
 * so each loaded value is used several times; every C entry is one accumulator summed over k in order,
 * whichever path computes it, so identical rows get bit-identical scores (ties stay ties). Synchronous,
 * used for small and medium collections; large ones go through the ONNX Runtime kernel (onnx-gemm.ts).
 */

/** Writes nA x nB scores into `out` (row i at out[i * nB]). */
export function dotBlock(A: Float32Array, nA: number, B: Float32Array, nB: number, d: number, out: Float32Array): void {
  const i4 = nA - (nA % 4);
  const j2 = nB - (nB % 2);
  for (let i = 0; i < i4; i += 4) {
    const a0 = i * d;
    const a1 = a0 + d;
    const a2 = a1 + d;
    const a3 = a2 + d;
    for (let j = 0; j < j2; j += 2) {
      const b0 = j * d;
      const b1 = b0 + d;
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
      for (let k = 0; k < d; k++) {
        const x0 = B[b0 + k];
        const x1 = B[b1 + k];
        const y0 = A[a0 + k];
        const y1 = A[a1 + k];
        const y2 = A[a2 + k];
        const y3 = A[a3 + k];
        s00 += y0 * x0; s01 += y0 * x1;
        s10 += y1 * x0; s11 += y1 * x1;
        s20 += y2 * x0; s21 += y2 * x1;
        s30 += y3 * x0; s31 += y3 * x1;
      }
      out[i * nB + j] = s00; out[i * nB + j + 1] = s01;
      out[(i + 1) * nB + j] = s10; out[(i + 1) * nB + j + 1] = s11;
      out[(i + 2) * nB + j] = s20; out[(i + 2) * nB + j + 1] = s21;
      out[(i + 3) * nB + j] = s30; out[(i + 3) * nB + j + 1] = s31;
    }
    for (let j = j2; j < nB; j++) for (let r = 0; r < 4; r++) out[(i + r) * nB + j] = dot(A, (i + r) * d, B, j * d, d);
  }
  for (let i = i4; i < nA; i++) {
    const a = i * d;
    for (let j = 0; j < j2; j += 2) {
      const b0 = j * d;
      const b1 = b0 + d;
      let s0 = 0, s1 = 0;
      for (let k = 0; k < d; k++) {
        const y = A[a + k];
        s0 += y * B[b0 + k];
        s1 += y * B[b1 + k];
      }
      out[i * nB + j] = s0;
      out[i * nB + j + 1] = s1;
    }
    for (let j = j2; j < nB; j++) out[i * nB + j] = dot(A, a, B, j * d, d);
  }
}

function dot(A: Float32Array, a: number, B: Float32Array, b: number, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) s += A[a + k] * B[b + k];
  return s;
}

/** Squared L2 norm of each row. */
export function rowSquaredNorms(data: Float32Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * d;
    for (let k = 0; k < d; k++) s += data[o + k] * data[o + k];
    out[i] = s;
  }
  return out;
}
