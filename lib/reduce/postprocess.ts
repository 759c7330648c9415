/**
 * A post-processing pipeline: a list of named steps (lib/reduce/steps/), fitted once on the database and
 * then applied, unchanged, to queries and to a reloaded index. The fitted state serialises to JSON (arrays
 * as base64 float32) so an index can keep it in its manifest; each step writes its own `kind` and fields.
 */
import { invalidOption } from "../errors";
import type { Reporter } from "../report";
import type { FeatureMatrix } from "../types";
import { POST_STEP_NAMES, postStep, type AnyStep, type FittedStep, type PostStep } from "./steps/index";

export { FUSE_WHITEN_SHRINKAGE, type FittedStep, type FuseState, type FuseStep, type PostStep } from "./steps/index";

export interface FittedPost {
  steps: FittedStep[];
}

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

/** The registry entry asked for by `spec`, with its options. */
function stepOfSpec(spec: PostStep): { step: AnyStep; options: unknown } | undefined {
  for (const name of POST_STEP_NAMES) {
    const step = postStep(name);
    const options = step.optionsOf(spec);
    if (options !== undefined) return { step, options };
  }
  return undefined;
}

/** The registry entry that transforms and serialises a fitted state of this `kind`. */
function stepOfKind(kind: unknown): AnyStep {
  if (typeof kind === "string" && (POST_STEP_NAMES as readonly string[]).includes(kind)) return postStep(kind as (typeof POST_STEP_NAMES)[number]);
  throw invalidOption("post-processing step kind", `${POST_STEP_NAMES.slice(0, -1).join(", ")} or ${POST_STEP_NAMES[POST_STEP_NAMES.length - 1]}`, kind);
}

/** Fits each step on the output of the previous one and applies it; returns the features and the state. */
export function postprocess(m: FeatureMatrix, steps: readonly PostStep[], reporter?: Reporter): { features: FeatureMatrix; state: FittedPost } {
  const fitted: FittedStep[] = [];
  let cur = m;
  for (const spec of steps) {
    const found = stepOfSpec(spec);
    if (!found) throw invalidOption("post-processing step", `"l2", "center", {pca: number, whiten?: boolean} or {fuse: {split, weight, center?}}`, spec);
    const state = found.step.fit(cur, found.options, reporter);
    fitted.push(state);
    cur = stepOfKind(state.kind).transform(cur, state);
  }
  return { features: cur, state: { steps: fitted } };
}

/** Applies a fitted state (to queries, or to the raw vectors of a reloaded index). */
export function applyPostprocess(m: FeatureMatrix, state: FittedPost): FeatureMatrix {
  return state.steps.reduce((cur, s) => stepOfKind(s.kind).transform(cur, s), m);
}

export interface FittedPostJSON {
  steps: Record<string, unknown>[];
}

export function postToJSON(state: FittedPost): FittedPostJSON {
  return { steps: state.steps.map((s) => stepOfKind(s.kind).toJSON(s)) };
}

export function postFromJSON(json: FittedPostJSON): FittedPost {
  if (!json || !Array.isArray(json.steps)) throw invalidOption("post-processing state", "{steps: [...]}", json);
  return { steps: json.steps.map((s) => stepOfKind(s.kind).fromJSON(s)) };
}
