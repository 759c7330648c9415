/** Stage "evaluate": P@k, recall@k, mAP, per class and confusion, for rankings from any pipeline. */
export { precisionAtK, recallAtK, averagePrecision, meanAveragePrecision, ScoreRowAveragePrecision } from "./metrics";
export { evaluate, formatEvaluation, formatPerClass, type Evaluation, type EvaluateOptions, type ClassEvaluation } from "./evaluate";
export { rankAndEvaluate, type RankEvaluateOptions, type RankedEvaluation } from "./ranked";
