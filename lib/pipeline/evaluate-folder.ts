/**
 * `cbir eval`: retrieval quality of one pipeline on a labelled folder. Leave-one-out over the database
 * (each image queries all the others), or external queries from another folder whose labels are known,
 * ranked against the database with the database's fitted post-processing.
 */
import { resolveConfig, type ConfigInput } from "../config";
import { CbirError } from "../errors";
import type { Evaluation } from "../evaluate/evaluate";
import { rankAndEvaluate, type RankedEvaluation } from "../evaluate/ranked";
import { scanFolder, type ScanOptions } from "../prepare/scan";
import { reporterOf, type Reporter } from "../report";
import type { Ranking, SkippedFile } from "../types";
import { Pipeline, searchOptions } from "./pipeline";

export interface EvaluateFolderOptions {
  /** P@k cut-offs (default [1, 5, 10]). */
  k?: number[];
  /** A folder of external queries with known labels (default: leave-one-out on the database). */
  queries?: string;
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

/** Labels of the items that have one, by name; refuses a folder where none has a label. */
export function labelsOf(items: { name: string; label?: string }[], where: string): Map<string, string> {
  const labels = new Map<string, string>();
  for (const it of items) if (it.label !== undefined) labels.set(it.name, it.label);
  if (labels.size === 0)
    throw new CbirError("E_BAD_OPTION", `no image of '${where}' has a label, so nothing can be scored.`, {
      file: where,
      fix: "name files <label><n>.jpg, put them in one sub-folder per label, or add a labels.csv (path,label).",
    });
  return labels;
}

export async function evaluateFolder(folder: string, config: ConfigInput = {}, opts: EvaluateFolderOptions = {}): Promise<FolderEvaluation> {
  const c = resolveConfig(config);
  const { search } = c;
  const scan = scanFolder(folder, opts.scan);
  const dbLabels = labelsOf(scan.items, folder);
  const querySet = opts.queries ? scanFolder(opts.queries, opts.scan) : undefined;
  for (const s of [...scan.skipped, ...(querySet?.skipped ?? [])]) reporterOf(opts.reporter).warn(`skipped ${s.reason}`, s.path);
  const pipeline = await Pipeline.open(c, { reporter: opts.reporter, progress: true });
  try {
    const db = await pipeline.fit(scan.items);
    const skipped = [...scan.skipped, ...db.skipped];
    const { features } = db;
    const kept = new Set(features.ids);
    const labels = new Map([...dbLabels].filter(([id]) => kept.has(id)));
    const k = opts.k ?? [1, 5, 10];
    let ranked: RankedEvaluation;
    if (querySet) {
      const q = await pipeline.transform(querySet.items, db.fitted);
      skipped.push(...querySet.skipped, ...q.skipped);
      const queryLabels = new Map(querySet.items.filter((i) => i.label !== undefined).map((i) => [i.name, i.label!] as [string, string]));
      ranked = await rankAndEvaluate(features, { ...searchOptions(search), k, labels, queries: q.features, queryLabels, reporter: opts.reporter });
    } else {
      ranked = await rankAndEvaluate(features, { ...searchOptions(search), k, labels, reporter: opts.reporter });
    }
    const { rankings } = ranked;
    const evaluation = ranked.evaluation!;
    const f = pipeline.config.features;
    const settings = {
      folder: scan.root,
      images: features.ids.length,
      model: f.model,
      backbone: pipeline.backbone.id,
      layer: pipeline.backbone.layer,
      pooling: f.pooling,
      dim: db.raw.dim,
      post: db.fitted.steps.join(",") || "none",
      ...searchOptions(search),
      mode: evaluation.mode,
      fingerprint: features.fingerprint.id,
    };
    return { evaluation, rankings, skipped, settings };
  } finally {
    pipeline.dispose();
  }
}
