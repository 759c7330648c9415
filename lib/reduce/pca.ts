/**
 * PCA and PCA-whitening learned on the database. The output dimension is clamped to the rank of the
 * centred data (at most n - 1 for n images), with a notice: past the rank the extra axes are noise, and
 * whitening them (dividing by a variance close to zero) blows that noise up until every cosine is alike.
 * PROBES.md: whitening learned on a 36- or 1,505-image database hurt mAP badly; centring + plain PCA did not.
 * Regularised whitening (`shrinkage`) divides by sqrt(variance + shrinkage x mean kept variance) instead: the
 * strong axes are still evened out, the weak (noisy) ones are not blown up. With shrinkage 1 and 32 dims it is
 * part of the default pipeline (chosen on food7's first half, see bench/choose-default.md).
 */
import { extendFingerprint, hashState } from "../fingerprint";
import { invalidOption } from "../errors";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix } from "../types";
import { symmetricEigen } from "./eigen";
import { checkMatrix, columnMean } from "./matrix";

export interface PcaOptions {
  /** Output dimension (clamped to the data's rank). */
  dims: number;
  /** Divide each component by its standard deviation (default false). */
  whiten?: boolean;
  /** Whitening regularisation: divide by sqrt(variance + shrinkage x mean kept variance) (default 0). */
  shrinkage?: number;
  /** Report a clamped dimension as a log line instead of a warning (when clamping is expected, as in the default pipeline). */
  quietClamp?: boolean;
}

export interface PcaState {
  kind: "pca";
  whiten: boolean;
  /** Whitening regularisation (0: plain whitening). */
  shrinkage: number;
  /** Dimension actually kept (<= requested). */
  dims: number;
  /** Input dimension. */
  inputDim: number;
  mean: Float32Array;
  /** dims rows of inputDim values: the principal axes, largest variance first. */
  components: Float32Array;
  /** Variance along each kept axis. */
  variances: Float32Array;
}

/** Eigenvalues below this fraction of the largest count as zero (float32 inputs carry ~1e-7 relative error). */
const RANK_TOLERANCE = 1e-6;

export function fitPca(m: FeatureMatrix, opts: PcaOptions, reporter?: Reporter): PcaState {
  checkMatrix(m);
  const rep = reporterOf(reporter);
  if (!Number.isInteger(opts.dims) || opts.dims < 1) throw invalidOption("pca", "positive integer", opts.dims);
  const n = m.ids.length;
  const d = m.dim;
  if (n < 2) throw invalidOption("features", "at least 2 rows to learn PCA from", n);
  const whiten = Boolean(opts.whiten);
  const shrinkage = opts.shrinkage ?? 0;
  if (!Number.isFinite(shrinkage) || shrinkage < 0) throw invalidOption("shrinkage", "number >= 0", opts.shrinkage);
  const mean = columnMean(m);
  const centred: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const r = new Float64Array(d);
    for (let j = 0; j < d; j++) r[j] = m.data[i * d + j] - mean[j];
    centred.push(r);
  }

  // Decompose the smaller of X^T X (d x d) and X X^T (n x n); both share the non-zero eigenvalues.
  const useGram = n < d;
  const size = useGram ? n : d;
  const S: Float64Array[] = Array.from({ length: size }, () => new Float64Array(size));
  if (useGram) {
    for (let i = 0; i < n; i++)
      for (let k = i; k < n; k++) {
        let s = 0;
        const a = centred[i];
        const b = centred[k];
        for (let j = 0; j < d; j++) s += a[j] * b[j];
        S[i][k] = S[k][i] = s / (n - 1);
      }
  } else {
    for (const r of centred)
      for (let a = 0; a < d; a++) {
        const ra = r[a];
        if (ra === 0) continue;
        const Sa = S[a];
        for (let b = a; b < d; b++) Sa[b] += ra * r[b];
      }
    for (let a = 0; a < d; a++)
      for (let b = a; b < d; b++) {
        S[a][b] /= n - 1;
        S[b][a] = S[a][b];
      }
  }
  const { values, vectors } = symmetricEigen(S);
  const top = values.length ? Math.max(values[0], 0) : 0;
  let rank = 0;
  while (rank < values.length && values[rank] > top * RANK_TOLERANCE && values[rank] > 0) rank++;
  if (rank === 0) throw invalidOption("features", "rows that are not all identical (PCA needs some variance)", "constant rows");
  const dims = Math.min(opts.dims, rank);
  if (dims < opts.dims && opts.quietClamp) rep.log(`PCA${whiten ? "-whitening" : ""}: ${n} vectors span only ${rank} dimensions; keeping ${dims} of ${opts.dims}.`);
  else if (dims < opts.dims)
    rep.warn(
      `PCA${whiten ? "-whitening" : ""} to ${opts.dims} dimensions asked, but ${n} vectors of ${d} values span only ${rank}: keeping ${dims}.` +
        (whiten && !shrinkage ? " Whitening learned on so few images tends to make all similarities alike; prefer centring or plain PCA." : ""),
    );

  const components = new Float32Array(dims * d);
  const variances = new Float32Array(dims);
  for (let c = 0; c < dims; c++) {
    const axis = new Float64Array(d);
    if (useGram) {
      // axis = X^T u / sqrt((n-1) * lambda)
      const u = vectors[c];
      for (let i = 0; i < n; i++) {
        const ui = u[i];
        const r = centred[i];
        for (let j = 0; j < d; j++) axis[j] += ui * r[j];
      }
      const norm = Math.sqrt((n - 1) * values[c]);
      for (let j = 0; j < d; j++) axis[j] /= norm;
    } else axis.set(vectors[c]);
    // Deterministic sign: the largest-magnitude entry positive, so refits on the same data hash the same.
    let big = 0;
    for (let j = 1; j < d; j++) if (Math.abs(axis[j]) > Math.abs(axis[big])) big = j;
    const sign = axis[big] < 0 ? -1 : 1;
    for (let j = 0; j < d; j++) components[c * d + j] = sign * axis[j];
    variances[c] = values[c];
  }
  rep.log(`PCA${whiten ? "-whitening" : ""}: ${d} -> ${dims} dims, ${explained(values, dims)} of the variance kept`);
  return { kind: "pca", whiten, shrinkage, dims, inputDim: d, mean: Float32Array.from(mean), components, variances };
}

function explained(values: Float64Array, k: number): string {
  let total = 0;
  let kept = 0;
  values.forEach((v, i) => {
    if (v > 0) {
      total += v;
      if (i < k) kept += v;
    }
  });
  return `${((100 * kept) / (total || 1)).toFixed(1)}%`;
}

export function pcaStepName(s: PcaState): string {
  return `pca${s.dims}${s.whiten ? "w" : ""}${s.whiten && s.shrinkage ? `s${s.shrinkage}` : ""}:${hashState(s.mean, s.components, s.variances)}`;
}

export function applyPca(m: FeatureMatrix, s: PcaState): FeatureMatrix {
  checkMatrix(m);
  if (m.dim !== s.inputDim) throw invalidOption("features dim", `${s.inputDim} (the dimension PCA was learned on)`, m.dim);
  const n = m.ids.length;
  const d = m.dim;
  const k = s.dims;
  const out = new Float32Array(n * k);
  const x = new Float64Array(d);
  let meanVar = 0;
  for (const v of s.variances) meanVar += v / s.variances.length;
  const floor = (s.shrinkage ?? 0) * meanVar;
  const scale = Float64Array.from(s.variances, (v) => (s.whiten ? 1 / Math.sqrt(v + floor) : 1));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) x[j] = m.data[i * d + j] - s.mean[j];
    for (let c = 0; c < k; c++) {
      let acc = 0;
      const o = c * d;
      for (let j = 0; j < d; j++) acc += x[j] * s.components[o + j];
      out[i * k + c] = acc * scale[c];
    }
  }
  return { ids: m.ids, dim: k, data: out, fingerprint: extendFingerprint(m.fingerprint, { reducer: pcaStepName(s) }) };
}
