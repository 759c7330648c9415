/** `cbir query <index> <image...>`: rank query images against an index and draw their recommendation figures. */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import type { PipelineConfig } from "../config";
import { expectOneOf, invalidOption } from "../errors";
import { checkEncodingName, ENCODINGS } from "../rank/encoding";
import { checkRefine } from "../rank/exact";
import { checkOutputDir } from "../fsutil";
import { RECOMMENDATION_LAYOUTS } from "../plot/index";
import { readableName, resolveTypedPath } from "../prepare/names";
import { defaultIndexDir, indexItems, queryIndex } from "../pipeline/folder-index";
import { MANIFEST_FILE } from "../store/manifest";
import { addPipelineOptions, configFromOptions, numberArg } from "./options";
import { cliReporter, EXIT, setExitCode } from "./output";
import { isLanceUri } from "../store/store-uri";
import { runLanceQuery } from "./lance-cmd";
import { writeQueryFigures } from "./query-figures";

/** Pipeline settings the user typed: they must agree with the index's (checked through the fingerprint). */
function explicitSettings(cmd: Command, opts: Record<string, unknown>): Partial<PipelineConfig> {
  const full = configFromOptions(opts);
  const out: Partial<PipelineConfig> = {};
  const map: [string, keyof PipelineConfig][] = [
    ["model", "model"],
    ["layer", "layer"],
    ["pool", "pooling"],
    ["gemP", "gemP"],
    ["histWeight", "histogramWeight"],
    ["whiten", "whiten"],
    ["center", "center"],
    ["runtime", "runtime"],
    ["batchSize", "batchSize"],
  ];
  for (const [opt, key] of map) if (cmd.getOptionValueSource(opt) === "cli") (out as Record<string, unknown>)[key] = full[key];
  return out;
}

export function register(program: Command): void {
  addPipelineOptions(
    program
      .command("query")
      .argument("<index>", "an index folder, or a database folder that has one (<folder>/.cbir-index)")
      .argument("<image...>", "query images")
      .description("rank query images against an index (with the settings it was built with) and write their recommendation figures")
      .option("--no-figures", "print the rankings only")
      .option("--vectors <encoding>", `refuse the index unless its search vectors are ${ENCODINGS.join(" | ")}`)
      .option("--refine <r>", "f16 / i8 indexes and HNSW: re-score the best r x k with float32 rows read from the segments (a Lance table: its float32 search column; 1 = off)", "1")
      .option("--exact", "exact search even when the index has an HNSW graph")
      .option("--layout <layout>", `recommendation figure: ${RECOMMENDATION_LAYOUTS.join(" | ")} (grid: query above its hits; row: "Rank #1..#k" on one line)`, "grid"),
  ).action(async (index: string, images: string[], opts: Record<string, unknown>, cmd: Command) => {
    const vectors = opts.vectors === undefined ? undefined : checkEncodingName(opts.vectors);
    const refine = checkRefine(numberArg("refine", opts.refine, true));
    if (isLanceUri(index)) {
      if (opts.exact) throw invalidOption("exact", `not for the Lance table ${index} (it has no HNSW graph of its own: tables up to 20,000 rows are searched exactly, larger ones by LanceDB's vector index)`, "--exact");
      if (opts.figures !== false) checkOutputDir(String(opts.out));
      const figures = { dir: opts.figures === false ? undefined : path.resolve(String(opts.out), "queries"), layout: expectOneOf("layout", String(opts.layout), RECOMMENDATION_LAYOUTS) };
      return runLanceQuery(index, images.map(resolveTypedPath), {
        k: Number(opts.k),
        metric: opts.metric as PipelineConfig["metric"],
        config: explicitSettings(cmd, opts),
        queryExpansion: configFromOptions(opts).queryExpansion,
        vectors,
        refine,
      }, figures, opts, cmd);
    }
    const reporter = cliReporter({ quiet: Boolean(opts.quiet) });
    // a file is passed as it is, so the error names what was typed
    const dir = fs.existsSync(path.join(index, MANIFEST_FILE)) || (fs.existsSync(index) && !fs.statSync(index).isDirectory()) ? index : defaultIndexDir(index);
    if (opts.figures !== false) checkOutputDir(String(opts.out)); // `--out /` is refused, not only what goes under it
    const k = Number(opts.k);
    const figuresDir = opts.figures === false ? undefined : path.resolve(String(opts.out), "queries");
    const layout = expectOneOf("layout", String(opts.layout), RECOMMENDATION_LAYOUTS);
    if (figuresDir) checkOutputDir(figuresDir, "figures folder");
    const res = await queryIndex(dir, images.map(resolveTypedPath), {
      k,
      metric: opts.metric as PipelineConfig["metric"],
      config: explicitSettings(cmd, opts),
      queryExpansion: configFromOptions(opts).queryExpansion,
      vectors,
      refine,
      exact: Boolean(opts.exact),
      reporter,
    });
    const figures = figuresDir ? await writeQueryFigures(res.rankings, res.queries, indexItems(res.index), figuresDir, layout, reporter) : [];
    reporter.finish();
    for (const r of res.rankings) {
      process.stdout.write(`${readableName(`${r.query}${r.queryLabel ? ` (${r.queryLabel})` : ""}`)}:\n`);
      r.hits.forEach((h, i) => process.stdout.write(`  ${String(i + 1).padStart(2)}. ${readableName(`${h.id}${h.label ? ` [${h.label}]` : ""}`)}  ${r.metric} ${h.score.toFixed(4)}\n`));
    }
    for (const f of figures) process.stdout.write(`wrote ${readableName(f)}\n`);
    if (res.skipped.length && opts.strict) setExitCode(cmd, EXIT.skipped);
  });
}

