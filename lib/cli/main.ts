/**
 * `cbir`: the command line. Each sub-command lives in its own file and only parses options, calls one
 * lib/ function and prints; the notebooks and tests call the same functions.
 */
import { Command, CommanderError } from "commander";
import { EXIT, reportFailure } from "./output";
import { registerDemo } from "./demo";

export function buildProgram(): Command {
  const program = new Command("cbir")
    .description("Content-based image retrieval with pretrained CNNs: index a folder, rank, evaluate, map with t-SNE.")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerDemo(program);
  for (const register of optionalCommands()) register(program);
  return program;
}

/** Sub-commands added by later modules; each file exports `register(program)`. */
function optionalCommands(): ((p: Command) => void)[] {
  const out: ((p: Command) => void)[] = [];
  for (const mod of ["./layers", "./index-cmd", "./query", "./eval"]) {
    let m: { register?: (p: Command) => void } | undefined;
    try {
      m = require(mod);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND" || !String((e as Error).message).includes(mod.slice(2))) throw e;
    }
    if (m?.register) out.push(m.register);
  }
  return out;
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

/** Sub-commands set the process exit code through this (0 ok, 3 skipped files with --strict). */
export function setExitCode(cmd: Command, code: number): void {
  let root: Command = cmd;
  while (root.parent) root = root.parent;
  (root as Command & { exitCodeValue?: number }).exitCodeValue = code;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
