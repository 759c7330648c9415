/** Stage "learn": heads trained on frozen features (triplet embedding, learned similarity), pair sampling, saving. */
export { tripletSemiHardLoss, semiHardTriplets, pairwiseDistance } from "./triplet-loss";
export {
  trainTripletHead,
  embed,
  embeddedFingerprint,
  buildTripletModel,
  DEFAULT_TRIPLET_ARCHITECTURE,
  type TripletHead,
  type TripletOptions,
  type TripletArchitecture,
} from "./triplet";
export {
  trainSimilarityHead,
  rankBySimilarity,
  similarityMatrix,
  predictPairs,
  similarityTarget,
  buildSimilarityModel,
  LEARNED_METRIC,
  DEFAULT_TARGET_WEIGHTS,
  DEFAULT_SIMILARITY_ARCHITECTURE,
  type SimilarityHead,
  type SimilarityOptions,
  type SimilarityArchitecture,
  type SimilarityRankOptions,
  type TargetWeights,
} from "./similarity";
export { samplePairs, pairCounts, pairCandidates, normalizedDistances, PAIR_KINDS, DEFAULT_PAIR_MIX, type Pair, type PairKind, type PairMix, type PairSamplerOptions } from "./pairs";
export { pairSsimFromImages, loadSsimImages } from "./ssim-pairs";
export { saveHead, loadHead, loadTripletHead, loadSimilarityHead, saveModelToDir, loadModelFromDir, type LearnedHead, type HeadMeta, type LoadHeadOptions } from "./io";
export { splitByClass, subsetPerClass, centerOnTraining, labelMap, selectRows, selectIds, classCodes, type LabelsInput, type TrainTestSplit } from "./data";
export { LR_DECAYS, learningRateAt, type LrDecay, type TrainOptions, type TrainingHistory, type EpochRecord } from "./train";
