/**
 * A post-processing pipeline: a list of named steps, fitted once on the database and then applied,
 * unchanged, to queries and to a reloaded index. The fitted state serialises to JSON (arrays as base64
 * float32) so an index can keep it in its manifest.
 */
import { CbirError, invalidOption, isCbirError } from "../errors";
import { extendFingerprint, hashState } from "../fingerprint";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix } from "../types";
import { concatFeatures } from "./combine";
import { base64ToF32, columnMean, f32ToBase64, selectColumns } from "./matrix";
import { applyCenter, fitCenter, l2normalize, type CenterState } from "./normalize";
import { applyPca, fitPca, type PcaState } from "./pca";

/**
 * `fuse`: the vectors are [CNN block (first `split` values) | colour-histogram block]. Each block is
 * L2-normalised; the CNN block is then PCA-whitened to `whiten` dimensions (regularised, shrinkage 1) or,
 * without whitening, centred on the database mean (`center`); the histogram block is centred too (`center`);
 * each block is L2-normalised again, the histogram block scaled by `weight`, and the whole vector
 * L2-normalised. Everything is fitted on the database, so one step refits when the database changes.
 * Chosen on food7's first half (bench/choose-default.md): centring both blocks and whitening the CNN block
 * of the bundled backbone each raised mAP there.
 */
export type FuseStep = { fuse: { split: number; weight: number; center?: boolean; whiten?: number } };
export type PostStep = "l2" | "center" | { pca: number; whiten?: boolean; shrinkage?: number } | FuseStep;
/** Regularisation of the fuse step's whitening (see lib/reduce/pca.ts). */
export const FUSE_WHITEN_SHRINKAGE = 1;
export interface FuseState {
  kind: "fuse";
  /** 2: blocks normalised before centring or whitening, histogram block centred (states without it are refused). */
  version: 2;
  split: number;
  weight: number;
  /** Mean of the unit CNN block when centring without whitening. */
  mean?: Float32Array;
  /** Mean of the unit histogram block when centring. */
  histMean?: Float32Array;
  /** Whitening of the unit CNN block. */
  pca?: PcaState;
}
export type FittedStep = { kind: "l2" } | CenterState | PcaState | FuseState;
export interface FittedPost {
  steps: FittedStep[];
}

/** The usual recipe (PROBES.md): centre on the database mean, then L2. */
export const DEFAULT_POST_STEPS: readonly PostStep[] = Object.freeze(["center", "l2"] as PostStep[]);

/** Parses "center,l2,pca64,pcaw64,pcaw32s1,fuse576w0.5cpw32" (CLI / config form). */
export function parsePostSteps(spec: string): PostStep[] {
  if (!spec.trim() || spec.trim() === "none") return [];
  return spec.split(",").map((raw) => {
    const s = raw.trim().toLowerCase();
    if (s === "l2" || s === "center") return s;
    const m = /^pca(w?)(\d+)(?:s([0-9.]+))?$/.exec(s);
    if (m && !(m[3] && !m[1])) return m[3] ? { pca: Number(m[2]), whiten: true, shrinkage: Number(m[3]) } : { pca: Number(m[2]), whiten: m[1] === "w" };
    const f = /^fuse(\d+)w([0-9.]+)(c?)(?:pw(\d+))?$/.exec(s);
    if (f) return { fuse: f[4] ? { split: Number(f[1]), weight: Number(f[2]), center: f[3] === "c", whiten: Number(f[4]) } : { split: Number(f[1]), weight: Number(f[2]), center: f[3] === "c" } };
    throw invalidOption("post-processing step", "l2, center, pca<N>, pcaw<N>[s<shrinkage>] or fuse<split>w<weight>[c][pw<dims>]", raw);
  });
}

export function postStepLabel(step: PostStep): string {
  if (typeof step === "string") return step;
  if ("fuse" in step) return `fuse${step.fuse.split}w${step.fuse.weight}${step.fuse.center ? "c" : ""}${step.fuse.whiten ? `pw${step.fuse.whiten}` : ""}`;
  return `pca${step.whiten ? "w" : ""}${step.pca}${step.whiten && step.shrinkage ? `s${step.shrinkage}` : ""}`;
}

function meanOf(m: FeatureMatrix): Float32Array {
  return Float32Array.from(columnMean(m));
}

function centred(m: FeatureMatrix, mean: Float32Array): FeatureMatrix {
  return l2normalize(applyCenter(m, { kind: "center", mean }));
}

function fuseBlocks(m: FeatureMatrix, split: number): [FeatureMatrix, FeatureMatrix] {
  return [l2normalize(selectColumns(m, 0, split)), l2normalize(selectColumns(m, split, m.dim))];
}

function fitFuse(m: FeatureMatrix, step: FuseStep["fuse"], reporter?: Reporter): FuseState {
  if (!Number.isInteger(step.split) || step.split < 1 || step.split >= m.dim) throw invalidOption("fuse split", `integer between 1 and ${m.dim - 1}`, step.split);
  if (!Number.isFinite(step.weight) || step.weight < 0) throw invalidOption("fuse weight", "non-negative number", step.weight);
  const whiten = step.whiten ?? 0;
  if (!Number.isInteger(whiten) || whiten < 0) throw invalidOption("fuse whiten", "integer >= 0 (0: no whitening)", step.whiten);
  const state: FuseState = { kind: "fuse", version: 2, split: step.split, weight: step.weight };
  const [cnn, hist] = fuseBlocks(m, step.split);
  if (whiten > 0 && m.ids.length >= 3) {
    try {
      state.pca = fitPca(cnn, { dims: whiten, whiten: true, shrinkage: FUSE_WHITEN_SHRINKAGE, quietClamp: true }, reporter);
    } catch (e) {
      // vectors with no variance (one image repeated): nothing to whiten, centring is all that is left
      if (!isCbirError(e)) throw e;
      reporterOf(reporter).log(`whitening skipped: ${e.message}`);
    }
  }
  if (!state.pca && (step.center || whiten > 0)) state.mean = meanOf(cnn);
  if (step.center) state.histMean = meanOf(hist);
  return state;
}

function applyFuse(m: FeatureMatrix, s: FuseState): FeatureMatrix {
  if (m.dim <= s.split) throw invalidOption("features dim", `more than ${s.split} (CNN block + histogram block)`, m.dim);
  let [cnn, hist] = fuseBlocks(m, s.split);
  cnn = s.pca ? l2normalize(applyPca(cnn, s.pca)) : s.mean ? centred(cnn, s.mean) : cnn;
  if (s.histMean) hist = centred(hist, s.histMean);
  const fused = l2normalize(concatFeatures([cnn, hist], { weights: [1, s.weight], normalizeBlocks: false }));
  const name = `fuse${s.split}w${s.weight}${s.histMean ? "c" : ""}${s.pca ? `pw${s.pca.dims}` : ""}:${hashState(...[s.mean, s.histMean, s.pca?.components].filter((a): a is Float32Array => Boolean(a)), [s.weight])}`;
  return { ids: m.ids, dim: fused.dim, data: fused.data, fingerprint: extendFingerprint(m.fingerprint, { reducer: name }) };
}

/**
 * Regularised whitening (shrinkage > 0) is what the pipeline asks for by default, so it must work on any
 * database: it clamps to the rank quietly and falls back to centring when there is nothing to learn from
 * (fewer than 3 vectors, or all alike). Plain PCA steps keep their errors and warnings.
 */
function fitRegularisedPca(m: FeatureMatrix, step: { pca: number; whiten?: boolean; shrinkage?: number }, reporter?: Reporter): PcaState | CenterState {
  const lenient = Boolean(step.whiten && step.shrinkage);
  if (lenient && m.ids.length < 3) {
    reporterOf(reporter).log(`whitening skipped: ${m.ids.length} vector(s) are too few to learn it from; centring instead`);
    return fitCenter(m);
  }
  try {
    return fitPca(m, { dims: step.pca, whiten: step.whiten, shrinkage: step.shrinkage, quietClamp: lenient }, reporter);
  } catch (e) {
    if (!lenient || !isCbirError(e)) throw e;
    reporterOf(reporter).log(`whitening skipped: ${e.message}; centring instead`);
    return fitCenter(m);
  }
}

/** Fits each step on the output of the previous one and applies it; returns the features and the state. */
export function postprocess(m: FeatureMatrix, steps: readonly PostStep[], reporter?: Reporter): { features: FeatureMatrix; state: FittedPost } {
  const fitted: FittedStep[] = [];
  let cur = m;
  for (const step of steps) {
    if (step === "l2") {
      fitted.push({ kind: "l2" });
      cur = l2normalize(cur);
    } else if (step === "center") {
      const s = fitCenter(cur);
      fitted.push(s);
      cur = applyCenter(cur, s);
    } else if (step && typeof step === "object" && "fuse" in step) {
      const s = fitFuse(cur, step.fuse, reporter);
      fitted.push(s);
      cur = applyFuse(cur, s);
    } else if (step && typeof step === "object" && "pca" in step && typeof step.pca === "number") {
      const s = fitRegularisedPca(cur, step, reporter);
      fitted.push(s);
      cur = s.kind === "pca" ? applyPca(cur, s) : applyCenter(cur, s);
    } else throw invalidOption("post-processing step", `"l2", "center", {pca: number, whiten?: boolean} or {fuse: {split, weight, center?}}`, step);
  }
  return { features: cur, state: { steps: fitted } };
}

/** Applies a fitted state (to queries, or to the raw vectors of a reloaded index). */
export function applyPostprocess(m: FeatureMatrix, state: FittedPost): FeatureMatrix {
  let cur = m;
  for (const s of state.steps) {
    if (s.kind === "l2") cur = l2normalize(cur);
    else if (s.kind === "center") cur = applyCenter(cur, s);
    else if (s.kind === "fuse") cur = applyFuse(cur, s);
    else cur = applyPca(cur, s);
  }
  return cur;
}

export interface FittedPostJSON {
  steps: Record<string, unknown>[];
}

export function postToJSON(state: FittedPost): FittedPostJSON {
  return {
    steps: state.steps.map((s) => {
      if (s.kind === "l2") return { kind: "l2" };
      if (s.kind === "center") return { kind: "center", mean: f32ToBase64(s.mean) };
      if (s.kind === "fuse")
        return {
          kind: "fuse",
          version: s.version,
          split: s.split,
          weight: s.weight,
          ...(s.mean ? { mean: f32ToBase64(s.mean) } : {}),
          ...(s.histMean ? { histMean: f32ToBase64(s.histMean) } : {}),
          ...(s.pca ? { pca: pcaToJSON(s.pca) } : {}),
        };
      return pcaToJSON(s);
    }),
  };
}

function pcaToJSON(s: PcaState): Record<string, unknown> {
  return {
        kind: "pca",
        whiten: s.whiten,
        shrinkage: s.shrinkage,
        dims: s.dims,
        inputDim: s.inputDim,
        mean: f32ToBase64(s.mean),
        components: f32ToBase64(s.components),
        variances: f32ToBase64(s.variances),
  };
}

export function postFromJSON(json: FittedPostJSON): FittedPost {
  if (!json || !Array.isArray(json.steps)) throw invalidOption("post-processing state", "{steps: [...]}", json);
  return {
    steps: json.steps.map((s): FittedStep => {
      if (s.kind === "l2") return { kind: "l2" };
      if (s.kind === "center") return { kind: "center", mean: base64ToF32(String(s.mean)) };
      if (s.kind === "fuse") {
        if (s.version !== 2)
          throw new CbirError("E_FINGERPRINT_MISMATCH", "this index was written by an older version of cbir, whose histogram fusion differs.", {
            fix: "rebuild it: `cbir index <folder> --rebuild` (or delete the index folder).",
          });
        const f: FuseState = { kind: "fuse", version: 2, split: Number(s.split), weight: Number(s.weight) };
        if (typeof s.mean === "string") f.mean = base64ToF32(s.mean);
        if (typeof s.histMean === "string") f.histMean = base64ToF32(s.histMean);
        if (s.pca && typeof s.pca === "object") f.pca = pcaFromJSON(s.pca as Record<string, unknown>);
        return f;
      }
      if (s.kind === "pca") return pcaFromJSON(s);
      throw invalidOption("post-processing step kind", "l2, center, pca or fuse", s.kind);
    }),
  };
}

function pcaFromJSON(s: Record<string, unknown>): PcaState {
  return {
    kind: "pca",
    whiten: Boolean(s.whiten),
    shrinkage: Number(s.shrinkage ?? 0),
    dims: Number(s.dims),
    inputDim: Number(s.inputDim),
    mean: base64ToF32(String(s.mean)),
    components: base64ToF32(String(s.components)),
    variances: base64ToF32(String(s.variances)),
  };
}
