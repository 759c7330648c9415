/** Stage "reduce": pooling of layer outputs and post-processing of feature vectors (fit separate from apply). */
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
  DEFAULT_POST_STEPS,
  type PostStep,
  type FittedStep,
  type FittedPost,
  type FittedPostJSON,
  type FuseStep,
  type FuseState,
} from "./postprocess";
export { featureMatrix, columnMean, selectColumns } from "./matrix";
export { symmetricEigen } from "./eigen";
