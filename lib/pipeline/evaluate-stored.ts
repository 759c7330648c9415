/**
 * `cbir eval <folder> --index <uri>`: the quality of the vectors a store holds (folder index or Lance
 * table), without extracting the database again: leave-one-out over the stored rows with their stored
 * labels, or external queries extracted with the store's recorded settings and its fitted post-processing.
 * The ranking and scoring are evaluateFolder's (rankAndEvaluate), so on the same vectors the numbers are
 * the same.
 */
import * as path from "node:path";
import { resolveConfig, type ConfigInput, type PipelineConfig } from "../config";
import { CbirError } from "../errors";
import { scanFolder } from "../prepare/scan";
import { reporterOf } from "../report";
import { openStoredVectors } from "../store/open-store";
import { Pipeline, searchOptions } from "./pipeline";
import type { EvaluateFolderOptions, FolderEvaluation } from "./evaluate-folder";
import { rankAndEvaluate } from "../evaluate/ranked";

export async function evaluateStored(folder: string, uri: string, config: Partial<PipelineConfig> = {}, opts: EvaluateFolderOptions = {}): Promise<FolderEvaluation> {
  const stored = await openStoredVectors(uri);
  // the index's recorded settings, then what the command gave: resolved once, here
  const c = resolveConfig({ ...((stored.config ?? {}) as Partial<PipelineConfig>), ...config });
  const { search } = c;
  const root = path.resolve(folder);
  // only the rows of this folder: a table shared by several collections is evaluated on the one named
  const rootOf = (p: string) => path.resolve(p).startsWith(root + path.sep);
  const keep = stored.items.map((it, i) => (rootOf(it.path) ? i : -1)).filter((i) => i >= 0);
  if (keep.length === 0) throw new CbirError("E_NO_IMAGES", `the index '${uri}' holds no image of '${folder}'.`, { file: uri, fix: `index the folder first: \`cbir index ${folder} --index ${uri}\`.` });
  const pick = (m: typeof stored.features) => {
    if (keep.length === m.ids.length) return m;
    const data = new Float32Array(keep.length * m.dim);
    keep.forEach((r, i) => data.set(m.data.subarray(r * m.dim, (r + 1) * m.dim), i * m.dim));
    return { ...m, ids: keep.map((r) => m.ids[r]), data };
  };
  const features = pick(stored.features);
  const kept = new Set(features.ids);
  const labels = new Map([...stored.labels].filter(([id]) => kept.has(id)));
  if (labels.size === 0) throw new CbirError("E_BAD_OPTION", `no image of '${uri}' has a label, so nothing can be scored.`, { file: uri, fix: "index a labelled folder." });
  const k = opts.k ?? [1, 5, 10];
  const skipped = [];
  let ranked;
  if (opts.queries) {
    const querySet = scanFolder(opts.queries, opts.scan);
    for (const s of querySet.skipped) reporterOf(opts.reporter).warn(`skipped ${s.reason}`, s.path);
    const pipeline = await Pipeline.open(c, { reporter: opts.reporter, progress: true });
    try {
      const q = await pipeline.extract(querySet.items);
      skipped.push(...querySet.skipped, ...q.skipped);
      const queryLabels = new Map(querySet.items.filter((i) => i.label !== undefined).map((i) => [i.name, i.label!] as [string, string]));
      ranked = await rankAndEvaluate(features, { k, labels, queries: stored.prepareQueries(q.features), queryLabels, ...searchOptions(search), reporter: opts.reporter });
    } finally {
      pipeline.dispose();
    }
  } else ranked = await rankAndEvaluate(features, { ...searchOptions(search), k, labels, reporter: opts.reporter });
  const evaluation = ranked.evaluation!;
  const settings = {
    folder: root,
    index: uri,
    images: features.ids.length,
    model: c.features.model,
    backbone: stored.raw.fingerprint.parts.backbone,
    layer: stored.raw.fingerprint.parts.layer,
    pooling: stored.raw.fingerprint.parts.pooling,
    dim: stored.raw.dim,
    post: stored.postSteps.join(",") || "none",
    ...searchOptions(search),
    mode: evaluation.mode,
    fingerprint: features.fingerprint.id,
  };
  return { evaluation, rankings: ranked.rankings, skipped, settings };
}
