/**
 * The post-processing steps: one file each plus one line here. postprocess / applyPostprocess and the
 * manifest JSON (lib/reduce/postprocess.ts) loop over this registry; `kind` in a fitted state is its key.
 */
import { center } from "./center";
import { fuse } from "./fuse";
import { l2 } from "./l2";
import { pca } from "./pca";
import type { FittedStep, Step } from "./types";

export type { FittedStep, PostStep, Step } from "./types";
export { FUSE_WHITEN_SHRINKAGE, type FuseState, type FuseStep } from "./fuse";
export type { PcaStepOptions } from "./pca";

export const POST_STEPS = { l2, center, pca, fuse } as const;
export type PostStepName = keyof typeof POST_STEPS;
export const POST_STEP_NAMES: readonly PostStepName[] = Object.freeze(Object.keys(POST_STEPS) as PostStepName[]);

/** A registry entry seen through its widest types, for the loops that dispatch on a spec or a state's kind. */
export type AnyStep = Step<unknown, FittedStep>;

export function postStep(name: PostStepName): AnyStep {
  return POST_STEPS[name] as unknown as AnyStep;
}
