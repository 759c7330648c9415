/** `cbir demo [folder]`: the main job on a folder (default: the bundled sample database). */
import type { Command } from "commander";
import { runDemo } from "../pipeline/demo";
import { addPipelineOptions, addSearchVectorOptions, configFromOptions, FOLLOW_LINKS_FLAG, FOLLOW_LINKS_HELP } from "./options";
import { cliReporter, EXIT, formatSkipped, setExitCode } from "./output";

export function registerDemo(program: Command): void {
  addSearchVectorOptions(addPipelineOptions(
    program
      .command("demo")
      .argument("[folder]", "database folder", "data/sample")
      .description("index a folder, write the top-k recommendation figure of every image, a t-SNE map and report.json")
      .option("--no-tsne", "skip the t-SNE map")
      .option(FOLLOW_LINKS_FLAG, FOLLOW_LINKS_HELP),
  )).action(async (folder: string, opts: Record<string, unknown>, cmd: Command) => {
    const reporter = cliReporter({ quiet: Boolean(opts.quiet) });
    const config = { ...configFromOptions(opts), tsne: opts.tsne !== false };
    const { report } = await runDemo(folder, config, reporter, { followLinks: Boolean(opts.followLinks) });
    reporter.finish();
    if (report.skipped.length) {
      process.stderr.write(formatSkipped(report.skipped));
      if (opts.strict) setExitCode(cmd, EXIT.skipped);
    }
  });
}
