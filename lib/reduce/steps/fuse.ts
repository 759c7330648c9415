/**
 * `fuse`: the vectors are [CNN block (first `split` values) | colour-histogram block]. Each block is
 * L2-normalised; the CNN block is then PCA-whitened to `whiten` dimensions (regularised, shrinkage 1) or,
 * without whitening, centred on the database mean (`center`); the histogram block is centred too (`center`);
 * each block is L2-normalised again, the histogram block scaled by `weight`, and the whole vector
 * L2-normalised. Everything is fitted on the database, so one step refits when the database changes.
 * Chosen on food7's first half (bench/choose-default.md): centring both blocks and whitening the CNN block
 * of the bundled backbone each raised mAP there.
 */
import { CbirError, invalidOption, isCbirError } from "../../errors";
import { extendFingerprint, hashState } from "../../fingerprint";
import { reporterOf, type Reporter } from "../../report";
import type { FeatureMatrix } from "../../types";
import { concatFeatures } from "../combine";
import { base64ToF32, columnMean, f32ToBase64, selectColumns } from "../matrix";
import { applyCenter, l2normalize } from "../normalize";
import { applyPca, fitPca, type PcaState } from "../pca";
import { pcaFromJSON, pcaToJSON } from "./pca";
import type { FuseState, FuseStep, Step } from "./types";

/** Regularisation of the fuse step's whitening (see lib/reduce/pca.ts). */
export const FUSE_WHITEN_SHRINKAGE = 1;
export type { FuseState, FuseStep } from "./types";

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

export const fuse: Step<FuseStep["fuse"], FuseState> = {
  name: "fuse",
  optionsOf: (spec) => (typeof spec === "object" && spec !== null && "fuse" in spec ? spec.fuse : undefined),
  fit: fitFuse,
  transform: applyFuse,
  toJSON: (s) => ({
    kind: "fuse",
    version: s.version,
    split: s.split,
    weight: s.weight,
    ...(s.mean ? { mean: f32ToBase64(s.mean) } : {}),
    ...(s.histMean ? { histMean: f32ToBase64(s.histMean) } : {}),
    ...(s.pca ? { pca: pcaToJSON(s.pca) } : {}),
  }),
  fromJSON(s) {
    if (s.version !== 2)
      throw new CbirError("E_FINGERPRINT_MISMATCH", "this index was written by an older version of cbir, whose histogram fusion differs.", {
        fix: "rebuild it: `cbir index <folder> --rebuild` (or delete the index folder).",
      });
    const f: FuseState = { kind: "fuse", version: 2, split: Number(s.split), weight: Number(s.weight) };
    if (typeof s.mean === "string") f.mean = base64ToF32(s.mean);
    if (typeof s.histMean === "string") f.histMean = base64ToF32(s.histMean);
    if (s.pca && typeof s.pca === "object") f.pca = pcaFromJSON(s.pca as Record<string, unknown>);
    return f;
  },
};
