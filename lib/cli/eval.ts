/** `cbir eval <folder>`: P@k, recall@k and mAP of one pipeline on a labelled folder (leave-one-out or external queries). */
import * as path from "node:path";
import type { Command } from "commander";
import { DEFAULT_CONFIG } from "../config";
import { invalidOption } from "../errors";
import { evaluateFolder } from "../pipeline/evaluate-folder";
import { evaluateStored } from "../pipeline/evaluate-stored";
import { formatEvaluation, formatPerClass } from "../evaluate/evaluate";
import { checkOutputFile, writeFileAtomic } from "../fsutil";
import { addPipelineOptions, addSearchVectorOptions, configFromOptions, FOLLOW_LINKS_FLAG, FOLLOW_LINKS_HELP } from "./options";
import { readableName } from "../prepare/names";
import { cliReporter, EXIT, formatSkipped, printable, setExitCode } from "./output";

function cutoffs(k: number, at: unknown): number[] {
  const list = typeof at === "string" && at.trim() ? at.split(",").map((s) => (/^\s*\d+\s*$/.test(s) ? Number(s) : NaN)) : [1, k, 10];
  if (list.some((x) => !Number.isSafeInteger(x) || x < 1)) throw invalidOption("at", "comma-separated positive integers", at);
  return [...new Set(list)].sort((a, b) => a - b);
}

export function register(program: Command): void {
  addSearchVectorOptions(addPipelineOptions(
    program
      .command("eval")
      .argument("<folder>", "labelled database folder (labels from labels.csv, sub-folders or the file-name prefix)")
      .description("measure retrieval quality: P@k, recall@k and mAP, per class and overall, with the settings used")
      .option("--queries <folder>", "external query images with known labels (default: leave-one-out on the database)")
      .option("--index <uri>", "evaluate the vectors this index holds (folder index or Lance table) instead of extracting the folder again")
      .option("--at <list>", "P@k cut-offs, comma-separated (default: 1,<k>,10)")
      .option("--json <file>", "also write the evaluation and settings as JSON")
      .option(FOLLOW_LINKS_FLAG, FOLLOW_LINKS_HELP),
  )).action(async (folder: string, opts: Record<string, unknown>, cmd: Command) => {
    const reporter = cliReporter({ quiet: Boolean(opts.quiet) });
    const config = configFromOptions(opts);
    if (typeof opts.json === "string") checkOutputFile(opts.json, "--json file");
    const res = await (typeof opts.index === "string" ? (f: string, c: typeof config, o: Parameters<typeof evaluateFolder>[2]) => evaluateStored(f, opts.index as string, c, o) : evaluateFolder)(folder, config, {
      k: cutoffs(config.k ?? DEFAULT_CONFIG.k, opts.at),
      queries: typeof opts.queries === "string" ? opts.queries : undefined,
      scan: { followLinks: Boolean(opts.followLinks) },
      reporter,
    });
    reporter.finish();
    const s = res.settings;
    process.stdout.write(
      `settings: ${s.images} images, ${s.model} (${s.backbone}) @ ${s.layer}, ${s.pooling} -> ${s.dim} values, post ${s.post}, ${s.metric}` +
        `${s.queryExpansion ? `, query expansion ${s.queryExpansion}` : ""}${s.vectors !== "f32" || Number(s.refine) > 1 ? `, ${s.vectors} vectors${Number(s.refine) > 1 ? ` refine ${s.refine}` : ""}` : ""}, ${s.mode}\n`,
    );
    process.stdout.write(`${printable(formatEvaluation(res.evaluation))}\n`);
    for (const line of formatPerClass(res.evaluation)) process.stdout.write(`  ${readableName(line)}\n`);
    if (typeof opts.json === "string") {
      await writeFileAtomic(path.resolve(opts.json), JSON.stringify({ settings: s, evaluation: res.evaluation, skipped: res.skipped }, null, 2) + "\n");
      process.stdout.write(`wrote ${path.resolve(opts.json)}\n`);
    }
    if (res.skipped.length) {
      process.stderr.write(formatSkipped(res.skipped));
      if (opts.strict) setExitCode(cmd, EXIT.skipped);
    }
  });
}
