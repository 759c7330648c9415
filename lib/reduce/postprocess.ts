/**
 * A post-processing pipeline: a list of named steps, fitted once on the database and then applied,
 * unchanged, to queries and to a reloaded index. The fitted state serialises to JSON (arrays as base64
 * float32) so an index can keep it in its manifest.
 */
import { invalidOption } from "../errors";
import { extendFingerprint, hashState } from "../fingerprint";
import type { Reporter } from "../report";
import type { FeatureMatrix } from "../types";
import { base64ToF32, f32ToBase64 } from "./matrix";
import { applyCenter, fitCenter, l2normalize, type CenterState } from "./normalize";
import { applyPca, fitPca, type PcaState } from "./pca";

/**
 * `fuse`: the vectors are [CNN block (first `split` values) | colour-histogram block]; the CNN block is
 * centred (optional) and L2-normalised, the histogram block L2-normalised and scaled by `weight`, then the
 * whole vector L2-normalised: the fusion of lib/pipeline/features.ts, as one step that can be refitted.
 */
export type FuseStep = { fuse: { split: number; weight: number; center?: boolean } };
export type PostStep = "l2" | "center" | { pca: number; whiten?: boolean } | FuseStep;
export interface FuseState {
  kind: "fuse";
  split: number;
  weight: number;
  /** Mean of the CNN block when centring, else undefined. */
  mean?: Float32Array;
}
export type FittedStep = { kind: "l2" } | CenterState | PcaState | FuseState;
export interface FittedPost {
  steps: FittedStep[];
}

/** The usual recipe (PROBES.md): centre on the database mean, then L2. */
export const DEFAULT_POST_STEPS: readonly PostStep[] = Object.freeze(["center", "l2"] as PostStep[]);

/** Parses "center,l2,pca64,pcaw64" (CLI / config form). */
export function parsePostSteps(spec: string): PostStep[] {
  if (!spec.trim() || spec.trim() === "none") return [];
  return spec.split(",").map((raw) => {
    const s = raw.trim().toLowerCase();
    if (s === "l2" || s === "center") return s;
    const m = /^pca(w?)(\d+)$/.exec(s);
    if (m) return { pca: Number(m[2]), whiten: m[1] === "w" };
    const f = /^fuse(\d+)w([0-9.]+)(c?)$/.exec(s);
    if (f) return { fuse: { split: Number(f[1]), weight: Number(f[2]), center: f[3] === "c" } };
    throw invalidOption("post-processing step", "l2, center, pca<N>, pcaw<N> or fuse<split>w<weight>[c]", raw);
  });
}

export function postStepLabel(step: PostStep): string {
  if (typeof step === "string") return step;
  if ("fuse" in step) return `fuse${step.fuse.split}w${step.fuse.weight}${step.fuse.center ? "c" : ""}`;
  return `pca${step.whiten ? "w" : ""}${step.pca}`;
}

function fitFuse(m: FeatureMatrix, step: FuseStep["fuse"]): FuseState {
  if (!Number.isInteger(step.split) || step.split < 1 || step.split >= m.dim) throw invalidOption("fuse split", `integer between 1 and ${m.dim - 1}`, step.split);
  if (!Number.isFinite(step.weight) || step.weight < 0) throw invalidOption("fuse weight", "non-negative number", step.weight);
  const state: FuseState = { kind: "fuse", split: step.split, weight: step.weight };
  if (step.center) {
    const mean = new Float64Array(step.split);
    const n = m.ids.length;
    for (let i = 0; i < n; i++) for (let j = 0; j < step.split; j++) mean[j] += m.data[i * m.dim + j];
    state.mean = Float32Array.from(mean, (v) => v / Math.max(1, n));
  }
  return state;
}

function applyFuse(m: FeatureMatrix, s: FuseState): FeatureMatrix {
  if (m.dim <= s.split) throw invalidOption("features dim", `more than ${s.split} (CNN block + histogram block)`, m.dim);
  const d = m.dim;
  const out = new Float32Array(m.data.length);
  for (let o = 0; o < m.data.length; o += d) {
    let a = 0;
    let b = 0;
    for (let j = 0; j < d; j++) {
      const v = j < s.split ? m.data[o + j] - (s.mean ? s.mean[j] : 0) : m.data[o + j];
      out[o + j] = v;
      if (j < s.split) a += v * v;
      else b += v * v;
    }
    const ia = a > 0 ? 1 / Math.sqrt(a) : 0;
    const ib = b > 0 ? s.weight / Math.sqrt(b) : 0;
    // after scaling, the norm is sqrt(1 + weight^2) when both blocks are non-zero
    const total = Math.sqrt((a > 0 ? 1 : 0) + (b > 0 ? s.weight * s.weight : 0)) || 1;
    for (let j = 0; j < d; j++) out[o + j] *= (j < s.split ? ia : ib) / total;
  }
  const name = `fuse${s.split}w${s.weight}${s.mean ? "c" : ""}:${s.mean ? hashState(s.mean) : "-"}`;
  return { ids: m.ids, dim: d, data: out, fingerprint: extendFingerprint(m.fingerprint, { reducer: name }) };
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
      const s = fitFuse(cur, step.fuse);
      fitted.push(s);
      cur = applyFuse(cur, s);
    } else if (step && typeof step === "object" && "pca" in step && typeof step.pca === "number") {
      const s = fitPca(cur, { dims: step.pca, whiten: step.whiten }, reporter);
      fitted.push(s);
      cur = applyPca(cur, s);
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
      if (s.kind === "fuse") return { kind: "fuse", split: s.split, weight: s.weight, ...(s.mean ? { mean: f32ToBase64(s.mean) } : {}) };
      return {
        kind: "pca",
        whiten: s.whiten,
        dims: s.dims,
        inputDim: s.inputDim,
        mean: f32ToBase64(s.mean),
        components: f32ToBase64(s.components),
        variances: f32ToBase64(s.variances),
      };
    }),
  };
}

export function postFromJSON(json: FittedPostJSON): FittedPost {
  if (!json || !Array.isArray(json.steps)) throw invalidOption("post-processing state", "{steps: [...]}", json);
  return {
    steps: json.steps.map((s): FittedStep => {
      if (s.kind === "l2") return { kind: "l2" };
      if (s.kind === "center") return { kind: "center", mean: base64ToF32(String(s.mean)) };
      if (s.kind === "fuse") {
        const f: FuseState = { kind: "fuse", split: Number(s.split), weight: Number(s.weight) };
        if (typeof s.mean === "string") f.mean = base64ToF32(s.mean);
        return f;
      }
      if (s.kind === "pca")
        return {
          kind: "pca",
          whiten: Boolean(s.whiten),
          dims: Number(s.dims),
          inputDim: Number(s.inputDim),
          mean: base64ToF32(String(s.mean)),
          components: base64ToF32(String(s.components)),
          variances: base64ToF32(String(s.variances)),
        };
      throw invalidOption("post-processing step kind", "l2, center, pca or fuse", s.kind);
    }),
  };
}
