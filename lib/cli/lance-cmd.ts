/**
 * The Lance-table branch of `cbir index` and `cbir query` (chosen when `--index` / the index argument is a
 * Lance URI, lib/store/store-uri.ts): kept apart so the folder-index commands stay as they are.
 */
import type { Command } from "commander";
import type { PipelineConfig } from "../config";
import { bytesPerVector, type Encoding } from "../rank/encoding";
import { readableName } from "../prepare/names";
import { indexFolderLance, lanceHitItems, queryLance } from "../pipeline/lance-index";
import { checkOutputDir } from "../fsutil";
import type { RecommendationLayout } from "../plot/index";
import { writeQueryFigures } from "./query-figures";
import { parseShard } from "../store/shard";
import { cliReporter, EXIT, formatSkipped, setExitCode } from "./output";

export const SHARD_FLAG = "--shard <i/n>";
export const SHARD_HELP = "Lance tables only: index only the files whose path hashes to shard i of n (1-based); run n of these at once, then one --optimize";
export const OPTIMIZE_FLAG = "--optimize";
export const OPTIMIZE_HELP = "Lance tables only: refit the post-processing, rewrite the search column, compact and rebuild the vector index after the update";

export async function runLanceIndex(folder: string, uri: string, config: Partial<PipelineConfig>, opts: Record<string, unknown>, cmd: Command, batchSize: number, vectors?: Encoding): Promise<void> {
  const reporter = cliReporter({ quiet: Boolean(opts.quiet) });
  const shard = opts.shard === undefined ? undefined : parseShard(opts.shard);
  const res = await indexFolderLance(folder, config, {
    uri,
    shard,
    optimize: opts.optimize ? true : "auto",
    vectors,
    batchSize,
    scan: { followLinks: Boolean(opts.followLinks) },
    reporter,
  });
  reporter.finish();
  const m = res.store?.meta;
  const skipped = [...res.scanSkipped, ...res.skipped];
  process.stdout.write(
    `${readableName(uri)}: ${res.rows} rows${m ? ` of ${m.dim} values (${m.fingerprint.parts.backbone} @ ${m.fingerprint.parts.layer || "-"}, ${m.fingerprint.parts.pooling}${m.post ? `, then ${m.post.steps.join(",")}` : ", not optimized yet"}; fingerprint ${(m.post?.fingerprint ?? m.fingerprint).id})` : ""}` +
      `${shard ? `; shard ${shard.index}/${shard.count}` : ""}${res.optimized ? "; optimized" : ""}\n` +
      (m?.codes ? `  search vectors: ${m.codes.encoding} codes, ${bytesPerVector(m.codes.encoding, m.codes.dim)} bytes per vector (f32: ${bytesPerVector("f32", m.codes.dim)})\n` : m && m.vectors !== "f32" ? `  search vectors: ${m.vectors}, encoded at the first --optimize\n` : "") +
      `  ${res.added.length} added, ${res.changed.length} changed, ${res.removed.length} removed, ${res.renamed.length} renamed, ${res.unchanged} unchanged, ${skipped.length} skipped\n`,
  );
  res.store?.close();
  if (skipped.length) {
    process.stderr.write(formatSkipped(skipped));
    if (opts.strict) setExitCode(cmd, EXIT.skipped);
  }
}

export async function runLanceQuery(uri: string, images: string[], query: Parameters<typeof queryLance>[2], figures: { dir?: string; layout: RecommendationLayout }, opts: Record<string, unknown>, cmd: Command): Promise<void> {
  const reporter = cliReporter({ quiet: Boolean(opts.quiet) });
  if (figures.dir) checkOutputDir(figures.dir, "figures folder");
  const res = await queryLance(uri, images, { ...query, reporter });
  const written = figures.dir ? await writeQueryFigures(res.rankings, res.queries, await lanceHitItems(res.store, res.rankings), figures.dir, figures.layout, reporter) : [];
  reporter.finish();
  for (const r of res.rankings) {
    process.stdout.write(`${readableName(`${r.query}${r.queryLabel ? ` (${r.queryLabel})` : ""}`)}:\n`);
    r.hits.forEach((h, i) => process.stdout.write(`  ${String(i + 1).padStart(2)}. ${readableName(`${h.id}${h.label ? ` [${h.label}]` : ""}`)}  ${r.metric} ${h.score.toFixed(4)}\n`));
  }
  for (const f of written) process.stdout.write(`wrote ${readableName(f)}\n`);
  res.store.close();
  if (res.skipped.length && opts.strict) setExitCode(cmd, EXIT.skipped);
}

export type { PipelineConfig };
