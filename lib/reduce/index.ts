/** Stage "reduce": post-processing of feature vectors (fit separate from apply); the poolings live in lib/extract/pooling. */
export { l2normalize, fitCenter, applyCenter, centerStepName, type CenterState } from "./normalize";
export { fitPca, applyPca, pcaStepName, type PcaOptions, type PcaState } from "./pca";
export { concatFeatures, fuseWithHistogram, type ConcatOptions } from "./combine";
export {
  postprocess,
  applyPostprocess,
  parsePostSteps,
  postStepLabel,
  postToJSON,
  postFromJSON,
  FUSE_WHITEN_SHRINKAGE,
  type PostStep,
  type FittedStep,
  type FittedPost,
  type FittedPostJSON,
  type FuseStep,
  type FuseState,
} from "./postprocess";
export { POST_STEPS, POST_STEP_NAMES, type Step, type PostStepName } from "./steps/index";
export { featureMatrix, columnMean, selectColumns } from "./matrix";
export { symmetricEigen } from "./eigen";
