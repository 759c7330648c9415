/**
 * Folder-level entry points behind `cbir index` and `cbir query`: scan a folder and bring its index up to
 * date; rank query images against an index with the settings it was built with. Figures are drawn by
 * the caller (plot/'s renderRecommendations; lib/cli/query-figures.ts for `cbir query`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { resolveConfig, type ConfigInput, type PipelineConfig, type ResolvedConfig } from "../config";
import { CbirError, expectOneOf } from "../errors";
import { labelFromName } from "../prepare/labels";
import { fsPath, readableName } from "../prepare/names";
import { scanFolder, type ScanOptions } from "../prepare/scan";
import { checkEncoding, checkEncodingName, type Encoding } from "../rank/encoding";
import { checkRefine, ExactIndex, exactSearch } from "../rank/exact";
import type { Metric } from "../rank/metrics/index";
import { reporterOf, type Reporter } from "../report";
import type { ImageItem, Ranking, SkippedFile } from "../types";
import { buildOrUpdateIndex, type BuildResult } from "../store/index-store";
import { defaultIndexDir, manifestPath, readManifest } from "../store/manifest";
import { ANN_KINDS, hnswLabel, I8_GRAPH_RESCORE, type AnnKind } from "../store/search-files";
import { openSearchIndex, searchGraph, type SearchIndex } from "../store/search-open";
import { checkIndexDir } from "../store/marker";
import { Pipeline } from "./pipeline";

export { defaultIndexDir };

export interface IndexFolderOptions {
  /** Index folder (default `<folder>/.cbir-index`). */
  indexDir?: string;
  rebuild?: boolean;
  /** Images per committed batch (default 64). */
  batchSize?: number;
  /** Encoding of the search vectors (default: the index's, f32 for a new one; see BuildOptions.vectors). */
  vectors?: Encoding;
  /** "hnsw": build a usearch HNSW graph beside the vectors (default: what the index had, else "none"). */
  ann?: AnnKind;
  scan?: ScanOptions;
  reporter?: Reporter;
}

export async function indexFolder(folder: string, config: ConfigInput, opts: IndexFolderOptions = {}): Promise<BuildResult & { dir: string; scanSkipped: SkippedFile[] }> {
  const c = resolveConfig(config); // every option is checked before the folder is walked or a model loaded
  if (opts.vectors !== undefined) checkEncodingName(opts.vectors);
  if (opts.ann !== undefined) expectOneOf("ann", opts.ann, ANN_KINDS);
  const scan = scanFolder(folder, opts.scan);
  for (const s of scan.skipped) reporterOf(opts.reporter).warn(`skipped ${s.reason}`, s.path);
  const dir = path.resolve(opts.indexDir ?? defaultIndexDir(folder));
  checkIndexDir(dir); // before the model loads: a folder of other files, or one that cannot be written, fails at once
  const pipeline = await Pipeline.open(c, { reporter: opts.reporter });
  try {
    const res = await buildOrUpdateIndex(scan.items, (items) => pipeline.extract(items), {
      dir,
      fingerprint: pipeline.fingerprint,
      root: scan.root,
      batchSize: opts.batchSize ?? 64,
      rebuild: opts.rebuild,
      config: pipeline.record,
      reporter: opts.reporter,
      post: pipeline.postFitter,
      vectors: opts.vectors,
      ann: opts.ann,
    });
    return { ...res, dir, scanSkipped: scan.skipped };
  } finally {
    pipeline.dispose();
  }
}

export interface QueryOptions {
  k?: number;
  metric?: Metric;
  /** Settings that differ from the index's are refused (the vectors would not be comparable). */
  config?: Partial<PipelineConfig>;
  queryExpansion?: number;
  /** Refuse the index unless its search vectors have this encoding (E_FINGERPRINT_MISMATCH naming both). */
  vectors?: Encoding;
  /** f16 / i8 (and HNSW): re-score the best refine x k with float32 rows read from the segments (default 1 = off). */
  refine?: number;
  /** Exact search even when the index has an HNSW graph. */
  exact?: boolean;
  reporter?: Reporter;
}

export interface QueryResult {
  index: SearchIndex;
  /** Which search ran, e.g. "exact cosine over i8 codes, refine 4" or "HNSW graph (usearch, i8 scalars, ...)". */
  search: string;
  rankings: Ranking[];
  skipped: SkippedFile[];
  /** The query images read (their figures are drawn by the caller: plot/'s renderRecommendations). */
  queries: ImageItem[];
}

/**
 * Names of query images: the base name, or as many trailing path parts as it takes to tell apart queries
 * that share one (`satay/001.jpg`, `rojak/001.jpg`), so rankings and figure files never collide.
 */
export function queryNames(images: readonly string[]): string[] {
  const parts = images.map((p) => path.resolve(p).split(path.sep).filter(Boolean));
  const depth = parts.map(() => 1);
  const nameOf = (i: number) => parts[i].slice(-depth[i]).join("/");
  for (;;) {
    const groups = new Map<string, number[]>();
    parts.forEach((_, i) => {
      const members = groups.get(nameOf(i));
      if (members) members.push(i);
      else groups.set(nameOf(i), [i]);
    });
    let grew = false;
    for (const members of groups.values())
      if (new Set(members.map((i) => parts[i].join("/"))).size > 1)
        for (const i of members)
          if (depth[i] < parts[i].length) (depth[i]++, (grew = true));
    if (!grew) break;
  }
  // the same file given twice keeps one name per occurrence
  const seen = new Map<string, number>();
  return parts.map((_, i) => {
    const n = nameOf(i);
    const c = (seen.get(n) ?? 0) + 1;
    seen.set(n, c);
    return c === 1 ? n : `${n}#${c}`;
  });
}

/**
 * A query's class, for the label shown and external-query precision: the file-name prefix (`burger_test.jpeg`)
 * or, when that is not one of the index's classes, the folder holding it (`satay/001.jpg`), as the index's
 * own labels come from either. Undefined when neither is a known class and the prefix has no letters.
 */
export function queryLabel(image: string, known: ReadonlySet<string>): string | undefined {
  const fromName = labelFromName(path.basename(image));
  const folder = path.basename(path.dirname(path.resolve(image)));
  for (const c of [fromName, folder]) if (known.has(c)) return c;
  return /[a-z]/i.test(fromName) ? fromName : undefined;
}

/** The query images as items (name, path, class among `known`), each checked to exist before any work. */
export function queryItems(images: readonly string[], known: ReadonlySet<string>): ImageItem[] {
  const names = queryNames(images);
  const queries: ImageItem[] = images.map((p, i) => {
    const label = queryLabel(p, known);
    return label === undefined ? { path: path.resolve(p), name: names[i] } : { path: path.resolve(p), name: names[i], label };
  });
  for (const q of queries)
    if (!fs.existsSync(fsPath(q.path))) throw new CbirError("E_BAD_IMAGE", `query image '${readableName(q.path)}' does not exist.`, { file: q.path, fix: "give the path of an image file." });
  return queries;
}

/**
 * The config of a query run, resolved once: the settings the index recorded, then those the command gave
 * (they must agree with the index's, which the fingerprint checks), with the query's k and expansion.
 */
export function queryConfig(recorded: Record<string, string | number | boolean> | undefined, opts: Pick<QueryOptions, "config" | "k" | "queryExpansion">): ResolvedConfig {
  const config: Partial<PipelineConfig> = { ...((recorded ?? {}) as Partial<PipelineConfig>), ...(opts.config ?? {}) };
  return resolveConfig({ ...config, k: opts.k ?? 5, ...(opts.queryExpansion !== undefined ? { queryExpansion: opts.queryExpansion } : {}) });
}

export async function queryIndex(indexDir: string, images: string[], opts: QueryOptions = {}): Promise<QueryResult> {
  const rep = reporterOf(opts.reporter);
  if (opts.vectors !== undefined) checkEncodingName(opts.vectors);
  const refine = checkRefine(opts.refine);
  // the index's recorded settings, then the ones the command gave: resolved once, before the index is
  // opened or any image read, so a bad value is the one error
  const c = queryConfig(readManifest(indexDir)?.config, opts);
  const index = openSearchIndex(indexDir, { ann: !opts.exact, reporter: opts.reporter });
  if (opts.vectors !== undefined) checkEncoding(opts.vectors, index, manifestPath(index.dir));
  const metric = opts.metric ?? "cosine";
  if (index.encoding !== "f32" && metric !== "cosine")
    throw new CbirError("E_BAD_OPTION", `an index of ${index.encoding} vectors is ranked by cosine only, not ${metric}.`, { file: index.dir, fix: "query with --metric cosine, or rebuild the index with --vectors f32." });
  const graph = index.hnsw && metric === "cosine" ? index.hnsw : undefined;
  if (index.hnsw && !graph) rep.info(`the HNSW graph ranks by cosine: exact search for --metric ${metric}`);
  if (!graph && index.encoding === "f32" && refine > 1) rep.info("--refine has no effect on an index of float32 vectors: they are ranked exactly");
  const search = graph
    ? `${hnswLabel(index.manifest.ann!)}, recall@10 ${index.manifest.ann!.recallAt10.toFixed(3)} at index time${
        refine > 1 ? `, refine ${refine} (float32 rows of the best ${refine} x k)` : graph.scalar === "i8" ? `, its best ${I8_GRAPH_RESCORE} x k re-ranked by the codes` : ""
      }`
    : index.encoding === "f32"
      ? `exact ${metric} over float32 vectors`
      : `exact cosine over ${index.encoding} codes${refine > 1 ? `, refine ${refine} (float32 rows of the best ${refine} x k)` : ""}`;
  const labels = new Map<string, string>();
  for (const i of index.manifest.items) if (i.label !== undefined) labels.set(i.name, i.label);
  const queries = queryItems(images, new Set(labels.values()));
  const pipeline = await Pipeline.open(c, { reporter: opts.reporter });
  let rankings: Ranking[];
  let skipped: SkippedFile[];
  try {
    const ex = await pipeline.extractQueries(queries, images[0]);
    skipped = ex.skipped;
    const q = index.prepareQueries(ex.features);
    const k = opts.k ?? 5;
    const queryLabels = new Map(queries.filter((x) => x.label !== undefined).map((x) => [x.name, x.label!] as [string, string]));
    const queryExpansion = c.search.queryExpansion;
    rep.info(`search: ${search}`);
    if (graph) rankings = await searchGraph(index, q, { k, queryExpansion, refine, labels, queryLabels });
    else if (index.features) rankings = await exactSearch(index.features, q, { metric, k, labels, queryLabels, queryExpansion, reporter: opts.reporter });
    else {
      const exact = await ExactIndex.fromEncoded({ ids: index.ids, fingerprint: index.fingerprint, vectors: index.vectors(), rows: index.rows }, { labels, refine });
      try {
        rankings = await exact.search(q, { k, queryLabels, queryExpansion, reporter: opts.reporter });
      } finally {
        await exact.dispose();
      }
    }
  } finally {
    pipeline.dispose();
  }
  return { index, search, rankings, skipped, queries };
}

/** The indexed images as ImageItems (path, name, label): what a figure of the index's hits shows. */
export function indexItems(index: SearchIndex): ImageItem[] {
  return index.manifest.items.map((i): ImageItem => ({ path: i.path, name: i.name, ...(i.label !== undefined ? { label: i.label } : {}) }));
}
