/**
 * `cbir index|query` on a Lance table: the folder-level entry points of lib/store/folder.ts with the
 * store chosen by URI (lib/store/open-store.ts). Scanning, the pipeline and the checks before any work
 * are the folder index's; only where the vectors go differs.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { resolveConfig, type PipelineConfig } from "../config";
import { CbirError, expectOneOf, isCbirError } from "../errors";
import { checkOutputDir, writeFileAtomic } from "../fsutil";
import { RECOMMENDATION_LAYOUTS, renderRecommendation } from "../plot/index";
import { fsPath, readableName } from "../prepare/names";
import { outputStems, scanFolder } from "../prepare/scan";
import { reporterOf } from "../report";
import type { ImageItem, Ranking, SkippedFile } from "../types";
import { queryLabel, queryNames, type IndexFolderOptions, type QueryOptions } from "./folder";
import { LanceStore, refuseForeignFolder } from "./lance-store";
import { updateLanceIndex, type LanceBuildResult } from "./lance-update";
import { HISTOGRAM_BINS, openPipeline } from "./pipeline";
import type { Shard } from "./shard";
import { parseStoreUri } from "./store-uri";

export interface LanceIndexOptions extends Omit<IndexFolderOptions, "indexDir" | "rebuild"> {
  uri: string;
  shard?: Shard;
  /** true: refit, rewrite the search column and rebuild the vector index after the update (see updateLanceIndex). */
  optimize?: boolean | "auto";
}

export async function indexFolderLance(folder: string, config: Partial<PipelineConfig>, opts: LanceIndexOptions): Promise<LanceBuildResult & { uri: string; scanSkipped: SkippedFile[] }> {
  const c = resolveConfig(config);
  const store = parseStoreUri(opts.uri); // a malformed URI or missing credentials fail before the folder is walked
  const scan = scanFolder(folder, opts.scan);
  for (const s of scan.skipped) reporterOf(opts.reporter).warn(`skipped ${s.reason}`, s.path);
  // an unreachable store, another tool's table or a damaged one fails before the model loads
  const existing = await LanceStore.tryOpen(store);
  if (existing) existing.close();
  else if (store.kind === "lance" && store.scheme === "file") {
    checkOutputDir(store.uri, `Lance database folder (${store.text})`);
    refuseForeignFolder(store);
  }
  const pipeline = await openPipeline(c, { reporter: opts.reporter });
  try {
    const res = await updateLanceIndex(scan.items, (items) => pipeline.extract(items), {
      uri: store,
      fingerprint: pipeline.fingerprint,
      histogramDim: c.histogramWeight > 0 ? HISTOGRAM_BINS ** 3 : 0,
      root: scan.root,
      batchSize: opts.batchSize ?? 64,
      config: pipeline.record,
      post: pipeline.post,
      shard: opts.shard,
      optimize: opts.optimize,
      reporter: opts.reporter,
    });
    return { ...res, uri: opts.uri, scanSkipped: scan.skipped };
  } finally {
    pipeline.dispose();
  }
}

export interface LanceQueryResult {
  store: LanceStore;
  rankings: Ranking[];
  skipped: SkippedFile[];
  figures: string[];
}

/** queryIndex (lib/store/folder.ts) on a Lance table. */
export async function queryLance(uri: string, images: string[], opts: QueryOptions = {}): Promise<LanceQueryResult> {
  const rep = reporterOf(opts.reporter);
  const store = await LanceStore.open(uri);
  if (opts.figuresDir) checkOutputDir(opts.figuresDir, "figures folder");
  const recorded = (store.meta.config ?? {}) as Partial<PipelineConfig>;
  const config: Partial<PipelineConfig> = { ...recorded, ...(opts.config ?? {}) };
  resolveConfig({ ...config, k: opts.k ?? 5, ...(opts.queryExpansion !== undefined ? { queryExpansion: opts.queryExpansion } : {}) });
  if (opts.layout !== undefined) expectOneOf("layout", opts.layout, RECOMMENDATION_LAYOUTS);
  const metric = expectOneOf("metric", opts.metric ?? "cosine", ["cosine", "euclidean", "sqeuclidean"] as const);
  const names = queryNames(images);
  const known = new Set((await store.entries()).map((e) => e.label).filter((l): l is string => l !== undefined));
  const queries: ImageItem[] = images.map((p, i) => {
    const label = queryLabel(p, known);
    return label === undefined ? { path: path.resolve(p), name: names[i] } : { path: path.resolve(p), name: names[i], label };
  });
  for (const q of queries)
    if (!fs.existsSync(fsPath(q.path))) throw new CbirError("E_BAD_IMAGE", `query image '${readableName(q.path)}' does not exist.`, { file: q.path, fix: "give the path of an image file." });
  const pipeline = await openPipeline(config, { reporter: opts.reporter });
  let rankings: Ranking[];
  let skipped: SkippedFile[];
  try {
    const ex = await pipeline.extract(queries);
    skipped = ex.skipped;
    if (ex.features.ids.length === 0) throw new CbirError("E_NO_IMAGES", "none of the query images could be read.", { file: images[0], fix: "give readable images." });
    rankings = await store.search(ex.features, {
      metric,
      k: opts.k ?? 5,
      queryLabels: new Map(queries.filter((x) => x.label !== undefined).map((x) => [x.name, x.label!] as [string, string])),
      queryExpansion: opts.queryExpansion ?? resolveConfig(config).queryExpansion,
      reporter: opts.reporter,
    });
  } finally {
    pipeline.dispose();
  }
  const figures: string[] = [];
  if (opts.figuresDir) {
    const rows = new Map((await store.rowsById([...new Set(rankings.flatMap((r) => r.hits.map((h) => h.id)))])).map((r) => [r.id, r] as const));
    const item = (id: string): ImageItem => {
      const r = rows.get(id)!;
      return r.label === undefined ? { path: r.path, name: r.id } : { path: r.path, name: r.id, label: r.label };
    };
    const queryByName = new Map(queries.map((i) => [i.name, i] as const));
    const stems = outputStems(rankings.map((r) => r.query));
    for (const [qi, r] of rankings.entries()) {
      const hits = r.hits.map((h, i) => ({ item: item(h.id), score: h.score, rank: i + 1 }));
      try {
        const png = await renderRecommendation({ item: queryByName.get(r.query)! }, hits, { metric: r.metric, layout: opts.layout });
        const file = path.join(opts.figuresDir, `${stems[qi]}_rec.png`);
        await writeFileAtomic(file, png);
        figures.push(file);
      } catch (e) {
        if (!isCbirError(e) || e.code === "E_DISK_FULL" || e.code === "E_NOT_WRITABLE") throw e;
        rep.warn(`no figure for ${r.query}: ${e.message}`);
      }
    }
  }
  return { store, rankings, skipped, figures };
}
