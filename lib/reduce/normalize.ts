/**
 * Stateless L2 normalisation and centring on a mean learned from the database. Fitting is separate from
 * applying so that queries are transformed with the database's state; every transform appends a part
 * (`name:hashOfState`) to the fingerprint, so vectors centred on different means are never compared.
 */
import { extendFingerprint, hashState } from "../fingerprint";
import { invalidOption } from "../errors";
import type { FeatureMatrix } from "../types";
import { checkMatrix, columnMean } from "./matrix";

/** Each row divided by its Euclidean norm; all-zero rows stay zero. */
export function l2normalize(m: FeatureMatrix): FeatureMatrix {
  checkMatrix(m);
  const out = new Float32Array(m.data.length);
  const n = m.ids.length;
  for (let i = 0; i < n; i++) {
    const o = i * m.dim;
    let s = 0;
    for (let j = 0; j < m.dim; j++) s += m.data[o + j] * m.data[o + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < m.dim; j++) out[o + j] = m.data[o + j] * inv;
  }
  return { ids: m.ids, dim: m.dim, data: out, fingerprint: extendFingerprint(m.fingerprint, { reducer: "l2" }) };
}

export interface CenterState {
  kind: "center";
  mean: Float32Array;
}

export function fitCenter(m: FeatureMatrix): CenterState {
  checkMatrix(m);
  if (m.ids.length === 0) throw invalidOption("features", "at least one row to learn a mean from", 0);
  return { kind: "center", mean: Float32Array.from(columnMean(m)) };
}

export function centerStepName(s: CenterState): string {
  return `center:${hashState(s.mean)}`;
}

export function applyCenter(m: FeatureMatrix, s: CenterState): FeatureMatrix {
  checkMatrix(m);
  if (s.mean.length !== m.dim) throw invalidOption("center mean length", `${m.dim} (the features' dimension)`, s.mean.length);
  const out = new Float32Array(m.data.length);
  for (let o = 0; o < m.data.length; o += m.dim) for (let j = 0; j < m.dim; j++) out[o + j] = m.data[o + j] - s.mean[j];
  return { ids: m.ids, dim: m.dim, data: out, fingerprint: extendFingerprint(m.fingerprint, { reducer: centerStepName(s) }) };
}
