/** "pca": PCA or PCA-whitening to `pca` dimensions, optionally regularised (`shrinkage`). */
import { isCbirError } from "../../errors";
import { reporterOf, type Reporter } from "../../report";
import type { FeatureMatrix } from "../../types";
import { base64ToF32, f32ToBase64 } from "../matrix";
import { fitCenter, type CenterState } from "../normalize";
import { applyPca, fitPca, type PcaState } from "../pca";
import type { Step } from "./types";

export type PcaStepOptions = { pca: number; whiten?: boolean; shrinkage?: number };

/**
 * Regularised whitening (shrinkage > 0) is what the pipeline asks for by default, so it must work on any
 * database: it clamps to the rank quietly and falls back to centring when there is nothing to learn from
 * (fewer than 3 vectors, or all alike). Plain PCA steps keep their errors and warnings.
 */
function fitRegularisedPca(m: FeatureMatrix, step: PcaStepOptions, reporter?: Reporter): PcaState | CenterState {
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

export function pcaToJSON(s: PcaState): Record<string, unknown> {
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

export function pcaFromJSON(s: Record<string, unknown>): PcaState {
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

export const pca: Step<PcaStepOptions, PcaState> = {
  name: "pca",
  optionsOf: (spec) => (typeof spec === "object" && spec !== null && !("fuse" in spec) && "pca" in spec && typeof spec.pca === "number" ? spec : undefined),
  fit: fitRegularisedPca,
  transform: (m, s) => applyPca(m, s),
  toJSON: pcaToJSON,
  fromJSON: pcaFromJSON,
};
