/**
 * `cbir index|query` on a Lance table: the folder-level entry points of lib/pipeline/folder-index.ts with the
 * store chosen by URI (lib/store/open-store.ts). Scanning, the pipeline and the checks before any work
 * are the folder index's; only where the vectors go differs.
 */
import { resolveConfig, type ConfigInput, type PipelineConfig } from "../config";
import { expectOneOf } from "../errors";
import { checkEncodingName } from "../rank/encoding";
import { AUGMENT_MAX_ROWS, checkRefine } from "../rank/exact";
import { checkOutputDir } from "../fsutil";
import { scanFolder } from "../prepare/scan";
import { reporterOf } from "../report";
import type { ImageItem, Ranking, SkippedFile } from "../types";
import { queryConfig, queryItems, type IndexFolderOptions, type QueryOptions } from "./folder-index";
import { LanceStore, refuseForeignFolder } from "../store/lance-store";
import { checkTableEncoding, updateLanceIndex, type LanceBuildResult } from "../store/lance-update";
import { HISTOGRAM_BINS, Pipeline } from "./pipeline";
import type { Shard } from "../store/shard";
import { parseStoreUri } from "../store/store-uri";

export interface LanceIndexOptions extends Omit<IndexFolderOptions, "indexDir" | "rebuild" | "ann"> {
  uri: string;
  shard?: Shard;
  /** true: refit, rewrite the search column and rebuild the vector index after the update (see updateLanceIndex). */
  optimize?: boolean | "auto";
}

export async function indexFolderLance(folder: string, config: ConfigInput, opts: LanceIndexOptions): Promise<LanceBuildResult & { uri: string; scanSkipped: SkippedFile[] }> {
  const c = resolveConfig(config);
  if (opts.vectors !== undefined) checkEncodingName(opts.vectors);
  const store = parseStoreUri(opts.uri); // a malformed URI or missing credentials fail before the folder is walked
  const scan = scanFolder(folder, opts.scan);
  for (const s of scan.skipped) reporterOf(opts.reporter).warn(`skipped ${s.reason}`, s.path);
  // an unreachable store, another tool's table or a damaged one fails before the model loads
  const existing = await LanceStore.tryOpen(store);
  if (existing) {
    existing.close();
    checkTableEncoding(existing, opts); // another encoding is refused before the model loads
  }
  else if (store.kind === "lance" && store.scheme === "file") {
    checkOutputDir(store.uri, `Lance database folder (${store.text})`);
    refuseForeignFolder(store);
  }
  const pipeline = await Pipeline.open(c, { reporter: opts.reporter });
  try {
    const res = await updateLanceIndex(scan.items, (items) => pipeline.extract(items), {
      uri: store,
      fingerprint: pipeline.fingerprint,
      histogramDim: c.features.histogram ? HISTOGRAM_BINS ** 3 : 0,
      root: scan.root,
      batchSize: opts.batchSize ?? 64,
      config: pipeline.record,
      post: pipeline.postFitter,
      shard: opts.shard,
      optimize: opts.optimize,
      vectors: opts.vectors,
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
  /** The query images read (their figures are drawn by the caller: plot/'s renderRecommendations). */
  queries: ImageItem[];
}

/** queryIndex (lib/pipeline/folder-index.ts) on a Lance table. */
export async function queryLance(uri: string, images: string[], opts: QueryOptions = {}): Promise<LanceQueryResult> {
  const store = await LanceStore.open(uri);
  const rep = reporterOf(opts.reporter);
  if (opts.vectors !== undefined) store.checkVectors(opts.vectors);
  const refine = checkRefine(opts.refine);
  if (store.meta.vectors === "f32" && refine > 1) rep.info("--refine has no effect on a table of float32 vectors searched exactly (above 20,000 rows it is LanceDB's refineFactor)");
  const c = queryConfig(store.meta.config, opts);
  const metric = expectOneOf("metric", opts.metric ?? "cosine", ["cosine", "euclidean", "sqeuclidean"] as const);
  const queries = queryItems(images, new Set((await store.entries()).map((e) => e.label).filter((l): l is string => l !== undefined)));
  const pipeline = await Pipeline.open(c, { reporter: opts.reporter });
  let rankings: Ranking[];
  let skipped: SkippedFile[];
  try {
    const ex = await pipeline.extractQueries(queries, images[0]);
    skipped = ex.skipped;
    const encoding = store.meta.vectors;
    if (encoding !== "f32") rep.info(`search: exact cosine over ${encoding} codes${refine > 1 ? `, refine ${refine} (float32 rows of the best ${refine} x k)` : ""} up to ${AUGMENT_MAX_ROWS} rows; LanceDB's search of the float32 column above`);
    rankings = await store.search(ex.features, {
      metric,
      refine,
      k: opts.k ?? 5,
      queryLabels: new Map(queries.filter((x) => x.label !== undefined).map((x) => [x.name, x.label!] as [string, string])),
      queryExpansion: c.search.queryExpansion,
      reporter: opts.reporter,
    });
  } finally {
    pipeline.dispose();
  }
  return { store, rankings, skipped, queries };
}

/** The images of these rankings' hits, read from the table (path, name, label), for their figures. */
export async function lanceHitItems(store: LanceStore, rankings: Ranking[]): Promise<ImageItem[]> {
  const rows = await store.rowsById([...new Set(rankings.flatMap((r) => r.hits.map((h) => h.id)))]);
  return rows.map((r): ImageItem => (r.label === undefined ? { path: r.path, name: r.id } : { path: r.path, name: r.id, label: r.label }));
}
