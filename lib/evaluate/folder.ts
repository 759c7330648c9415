/**
 * `cbir eval`: retrieval quality of one pipeline on a labelled folder. Leave-one-out over the database
 * (each image queries all the others), or external queries from another folder whose labels are known,
 * ranked against the database with the database's fitted post-processing.
 */
import { resolveConfig, type PipelineConfig } from "../config";
import { CbirError } from "../errors";
import { scanFolder, type ScanOptions } from "../prepare/scan";
import { applyPostprocess, postprocess, postStepLabel } from "../reduce/postprocess";
import type { Metric } from "../rank/metrics/index";
import { reporterOf, type Reporter } from "../report";
import { openPipeline } from "../store/pipeline";
import type { Ranking, SkippedFile } from "../types";
import type { Evaluation } from "./evaluate";
import { rankAndEvaluate, type RankedEvaluation } from "./ranked";

export interface EvaluateFolderOptions {
  /** P@k cut-offs (default [1, 5, 10]). */
  k?: number[];
  /** Score used for ranking (default: the config's metric). */
  metric?: Metric;
  /** A folder of external queries with known labels (default: leave-one-out on the database). */
  queries?: string;
  /** Default: the config's. */
  queryExpansion?: number;
  scan?: ScanOptions;
  reporter?: Reporter;
}

export interface FolderEvaluation {
  evaluation: Evaluation;
  /** Top max(k) hits of every query (the full rankings are never stored: memory stays O(n k)). */
  rankings: Ranking[];
  skipped: SkippedFile[];
  /** What was measured, for printing next to the numbers. */
  settings: Record<string, string | number | boolean>;
}

export async function evaluateFolder(folder: string, config: Partial<PipelineConfig> = {}, opts: EvaluateFolderOptions = {}): Promise<FolderEvaluation> {
  const c = resolveConfig(config);
  const scan = scanFolder(folder, opts.scan);
  const dbLabels = new Map<string, string>();
  for (const it of scan.items) if (it.label !== undefined) dbLabels.set(it.name, it.label);
  if (dbLabels.size === 0)
    throw new CbirError("E_BAD_OPTION", `no image of '${folder}' has a label, so nothing can be scored.`, {
      file: folder,
      fix: "name files <label><n>.jpg, put them in one sub-folder per label, or add a labels.csv (path,label).",
    });
  const querySet = opts.queries ? scanFolder(opts.queries, opts.scan) : undefined;
  for (const s of [...scan.skipped, ...(querySet?.skipped ?? [])]) reporterOf(opts.reporter).warn(`skipped ${s.reason}`, s.path);
  const metric = opts.metric ?? c.metric;
  const qe = opts.queryExpansion ?? c.queryExpansion;
  const pipeline = await openPipeline(c, { reporter: opts.reporter, progress: true });
  try {
    const db = await pipeline.extract(scan.items);
    const skipped = [...scan.skipped, ...db.skipped];
    const { features, state } = postprocess(db.features, pipeline.post, opts.reporter);
    const kept = new Set(features.ids);
    const labels = new Map([...dbLabels].filter(([id]) => kept.has(id)));
    const k = opts.k ?? [1, 5, 10];
    let ranked: RankedEvaluation;
    if (querySet) {
      const q = await pipeline.extract(querySet.items);
      skipped.push(...querySet.skipped, ...q.skipped);
      const queryLabels = new Map(querySet.items.filter((i) => i.label !== undefined).map((i) => [i.name, i.label!] as [string, string]));
      ranked = await rankAndEvaluate(features, { metric, k, labels, queries: applyPostprocess(q.features, state), queryLabels, queryExpansion: qe, vectors: c.vectors, refine: c.refine, reporter: opts.reporter });
    } else {
      ranked = await rankAndEvaluate(features, { metric, k, labels, queryExpansion: qe, vectors: c.vectors, refine: c.refine, reporter: opts.reporter });
    }
    const { rankings } = ranked;
    const evaluation = ranked.evaluation!;
    const settings = {
      folder: scan.root,
      images: features.ids.length,
      model: c.model,
      backbone: pipeline.backbone.id,
      layer: pipeline.backbone.layer,
      pooling: c.pooling,
      dim: db.features.dim,
      post: pipeline.post.map(postStepLabel).join(",") || "none",
      metric,
      queryExpansion: qe,
      vectors: c.vectors,
      refine: c.refine,
      mode: evaluation.mode,
      fingerprint: features.fingerprint.id,
    };
    return { evaluation, rankings, skipped, settings };
  } finally {
    pipeline.dispose();
  }
}
