/** Stage "pipeline": the one pipeline object and the commands built on it (demo, eval, index, query). */
export { Pipeline, HISTOGRAM_BINS, postSteps, searchOptions, type FittedDatabase, type RawVectors } from "./pipeline";
export { computeFeatures, type PipelineFeatures } from "./features";
export { evaluateFolder, type EvaluateFolderOptions, type FolderEvaluation } from "./evaluate-folder";
export { evaluateStored } from "./evaluate-stored";
export { indexFolder, queryIndex, defaultIndexDir, type IndexFolderOptions, type QueryOptions, type QueryResult } from "./folder-index";
export { runDemo, type DemoReport, type DemoResult } from "./demo";
export { sweep, sweepConfigs, SWEEP_FIELDS, type SweepGrid, type SweepRow, type SweepOptions, type SweepField } from "./sweep";
