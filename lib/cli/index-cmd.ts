/** `cbir index <folder>`: build or update the persistent index of a folder (only new and changed images are extracted). */
import type { Command } from "commander";
import { indexFolder } from "../pipeline/folder-index";
import { expectOneOf, invalidOption } from "../errors";
import { bytesPerVector, checkEncodingName, ENCODINGS } from "../rank/encoding";
import { ANN_KINDS, hnswLabel } from "../store/search-files";
import { readableName } from "../prepare/names";
import { addFeatureOptions, configFromOptions, FOLLOW_LINKS_FLAG, FOLLOW_LINKS_HELP, numberArg } from "./options";
import { cliReporter, EXIT, formatSkipped, setExitCode } from "./output";
import { isLanceUri } from "../store/store-uri";
import { OPTIMIZE_FLAG, OPTIMIZE_HELP, runLanceIndex, SHARD_FLAG, SHARD_HELP } from "./lance-cmd";

export function register(program: Command): void {
  // no -k, --metric, --qe or --out: an index stores vectors; `cbir query` and `cbir eval` rank them
  addFeatureOptions(
    program
      .command("index")
      .argument("<folder>", "database folder of images")
      .description("build or update the index of a folder: vectors + manifest, resumable, only new or changed images are extracted")
      .option("--index <dir>", "index folder (default: <folder>/.cbir-index), or a Lance table: lance:<folder>, <folder>.lance, s3://, gs://, az://")
      .option(SHARD_FLAG, SHARD_HELP)
      .option(OPTIMIZE_FLAG, OPTIMIZE_HELP)
      .option("--rebuild", "discard an index made with other settings instead of refusing it")
      .option("--vectors <encoding>", `search vectors: ${ENCODINGS.join(" | ")} (bytes per vector: 4, 2 or 1 per value; default: the index's, f32 for a new one)`)
      .option("--ann <kind>", `approximate search built at index time: ${ANN_KINDS.join(" | ")} (default: what the index had, else none)`)
      .option("--commit-every <n>", "images extracted per committed batch (a killed run resumes from the last one)", "64")
      .option(FOLLOW_LINKS_FLAG, FOLLOW_LINKS_HELP),
  ).action(async (folder: string, opts: Record<string, unknown>, cmd: Command) => {
    // checked before any work: one error line, exit 2
    const vectors = opts.vectors === undefined ? undefined : checkEncodingName(opts.vectors);
    const ann = opts.ann === undefined ? undefined : expectOneOf("ann", opts.ann, ANN_KINDS);
    const reporter = cliReporter({ quiet: Boolean(opts.quiet) });
    const config = configFromOptions(opts);
    const commitEvery = numberArg("commit-every", opts.commitEvery, true);
    if (commitEvery < 1) throw invalidOption("commit-every", "positive integer", opts.commitEvery);
    if (typeof opts.index === "string" && isLanceUri(opts.index)) {
      // a Lance table builds LanceDB's own vector index (HNSW_SQ, IVF_PQ) at --optimize, and re-encodes there
      if (ann !== undefined || opts.rebuild)
        throw invalidOption("ann / rebuild", `neither for the Lance table ${opts.index} (it builds LanceDB's vector index at --optimize, which also re-encodes --vectors; they apply to folder indexes)`, [ann && `--ann ${ann}`, opts.rebuild && "--rebuild"].filter(Boolean).join(" "));
      return runLanceIndex(folder, opts.index, config, opts, cmd, commitEvery, vectors);
    }
    if (opts.shard !== undefined || opts.optimize) throw invalidOption(opts.shard !== undefined ? "shard" : "optimize", "a Lance table as --index (lance:<folder>, <folder>.lance, s3://...)", opts.index ?? "(the folder index)");
    const res = await indexFolder(folder, config, {
      indexDir: typeof opts.index === "string" ? opts.index : undefined,
      rebuild: Boolean(opts.rebuild),
      batchSize: commitEvery,
      vectors,
      ann,
      scan: { followLinks: Boolean(opts.followLinks) },
      reporter,
    });
    reporter.finish();
    const m = res.index.manifest;
    const skipped = [...res.scanSkipped, ...res.skipped];
    process.stdout.write(
      `${readableName(res.dir)}: ${m.items.length} vectors of ${m.dim} values (${m.fingerprint.parts.backbone} @ ${m.fingerprint.parts.layer || "-"}, ${m.fingerprint.parts.pooling}` +
        `${m.post ? `, then ${m.post.steps.join(",")}` : ""}; fingerprint ${(m.post?.fingerprint ?? m.fingerprint).id})\n` +
        (m.codes ? `  search vectors: ${m.codes.encoding} codes, ${bytesPerVector(m.codes.encoding, m.codes.dim)} bytes per vector (f32: ${bytesPerVector("f32", m.codes.dim)}); fingerprint ${m.codes.fingerprint.id}\n` : "") +
        (m.ann ? `  ${hnswLabel(m.ann)}: recall@10 ${m.ann.recallAt10.toFixed(3)} against exact search\n` : "") +
        `  ${res.added.length} added, ${res.changed.length} changed, ${res.removed.length} removed, ${res.renamed.length} renamed, ${res.unchanged} unchanged, ${skipped.length} skipped\n`,
    );
    if (skipped.length) {
      process.stderr.write(formatSkipped(skipped));
      if (opts.strict) setExitCode(cmd, EXIT.skipped);
    }
  });
}
