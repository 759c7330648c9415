/** Small helpers shared by the reducers: validated construction and a copy with new data. */
import { invalidOption } from "../errors";
import type { Fingerprint } from "../fingerprint";
import type { FeatureMatrix } from "../types";

/** Checks that `data` holds `ids.length` rows of `dim` values. */
export function featureMatrix(ids: string[], dim: number, data: Float32Array, fingerprint: Fingerprint): FeatureMatrix {
  if (!Number.isInteger(dim) || dim < 1) throw invalidOption("dim", "positive integer", dim);
  if (data.length !== ids.length * dim) throw invalidOption("data.length", `${ids.length} x ${dim} = ${ids.length * dim} values`, data.length);
  return { ids, dim, data, fingerprint };
}

export function checkMatrix(m: FeatureMatrix, name = "features"): void {
  if (!m || !(m.data instanceof Float32Array) || !Array.isArray(m.ids)) throw invalidOption(name, "a FeatureMatrix {ids, dim, data, fingerprint}", m);
  if (m.data.length !== m.ids.length * m.dim)
    throw invalidOption(`${name}.data.length`, `${m.ids.length} x ${m.dim} = ${m.ids.length * m.dim} values`, m.data.length);
}

/** Column means in float64 (float32 sums drift on large collections). */
export function columnMean(m: FeatureMatrix): Float64Array {
  const mean = new Float64Array(m.dim);
  const n = m.ids.length;
  for (let i = 0; i < n; i++) {
    const o = i * m.dim;
    for (let j = 0; j < m.dim; j++) mean[j] += m.data[o + j];
  }
  if (n > 0) for (let j = 0; j < m.dim; j++) mean[j] /= n;
  return mean;
}

/** Columns [start, end) of every row, as a new matrix (e.g. the CNN or the histogram block of fused raw vectors). */
export function selectColumns(m: FeatureMatrix, start: number, end: number, fingerprint: Fingerprint = m.fingerprint): FeatureMatrix {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > m.dim || start >= end)
    throw invalidOption("columns", `0 <= start < end <= ${m.dim}`, `${start}..${end}`);
  const dim = end - start;
  const n = m.ids.length;
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) data.set(m.data.subarray(i * m.dim + start, i * m.dim + end), i * dim);
  return { ids: m.ids, dim, data, fingerprint };
}

/** Float32 <-> base64, for fitted states kept in JSON manifests. */
export function f32ToBase64(a: Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");
}
export function base64ToF32(s: string): Float32Array {
  const buf = Buffer.from(s, "base64");
  const out = new Float32Array(buf.byteLength / 4);
  new Uint8Array(out.buffer).set(buf);
  return out;
}
