/**
 * `cbir`: the command line. Each sub-command lives in its own file and only parses options, calls one
 * lib/ function and prints; the notebooks and tests call the same functions.
 */
import { Command, CommanderError } from "commander";
import { OFFLINE_ENV } from "../backbone/download";
import { EXIT, reportFailure } from "./output";
import { registerDemo } from "./demo";
import { register as registerEval } from "./eval";
import { register as registerExport } from "./export-cmd";
import { register as registerIndex } from "./index-cmd";
import { register as registerLayers } from "./layers";
import { register as registerQuery } from "./query";

export function buildProgram(): Command {
  const program = new Command("cbir")
    .description("Content-based image retrieval with pretrained CNNs: index a folder, rank, evaluate, map with t-SNE.")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    // --offline on any command: lib reads CBIR_OFFLINE wherever it would download (lib/backbone/download.ts)
    .hook("preAction", (_program, action) => {
      if (action.opts().offline) process.env[OFFLINE_ENV] = "1";
    });
  registerDemo(program);
  registerIndex(program);
  registerQuery(program);
  registerEval(program);
  registerExport(program);
  registerLayers(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return (program as Command & { exitCodeValue?: number }).exitCodeValue ?? EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are successful exits; everything else commander rejects is a usage error
      return e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help" ? EXIT.ok : EXIT.usage;
    }
    return reportFailure(e);
  }
}


if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
