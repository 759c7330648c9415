/**
 * How the command line prints what lib/ reports: log lines to stdout, notices to stderr, and a
 * progress bar on stderr for long loops (redrawn in place on a terminal, a few milestone lines otherwise).
 */
import type { Command } from "commander";
import type { Reporter } from "../report";
import { printMilestone, progressBar } from "../progress";

export { printMilestone, progressBar } from "../progress";
import { isCbirError } from "../errors";
import type { SkippedFile } from "../types";
import { readableName } from "../prepare/names";

/**
 * Text as the terminal may show it: file names can hold ESC (which would drive the terminal), other
 * controls or bytes that are not UTF-8; they are printed as `\x1b`, `\xff` (see readableName).
 * Tabs and line breaks written by the toolkit itself are kept.
 */
export function printable(text: string): string {
  return String(text).replace(/[^\t\n]+/g, readableName);
}

export const EXIT = { ok: 0, failure: 1, usage: 2, skipped: 3 } as const;

export interface CliReporterOptions {
  quiet?: boolean;
  stream?: NodeJS.WriteStream;
}

export function cliReporter(options: CliReporterOptions = {}): Reporter & { finish(): void } {
  const err = options.stream ?? process.stderr;
  const tty = Boolean(err.isTTY);
  let open = false; // a bar line is drawn and not yet ended
  const milestones = new Map<string, { step: number; done: number }>();
  const endBar = () => {
    if (open) err.write("\n");
    open = false;
  };
  return {
    log(line) {
      endBar();
      if (!options.quiet) process.stdout.write(`${printable(line)}\n`);
    },
    notice(n) {
      endBar();
      // name the file unless the message already does (scan notices say only the reason)
      const where = n.file && !n.message.includes(n.file) ? `${n.file}: ` : "";
      // one line whatever the file name holds (a newline in a name is shown as \x0a)
      err.write(`${readableName(`${n.level === "warn" ? "warning" : "note"}: ${where}${n.message}`)}\n`);
    },
    progress(ev) {
      if (options.quiet || ev.total < 2) return;
      if (tty) {
        err.write(`\r${printable(ev.stage)} ${progressBar(ev.done, ev.total)}`);
        open = ev.done < ev.total;
        if (!open) err.write("\n");
        return;
      }
      // not a terminal: print 0%, every 25% and 100% once per run of a stage, so logs stay short
      printMilestone(milestones, ev, (line) => err.write(`${line}\n`));
    },
    finish: endBar,
  };
}

/**
 * The end-of-run list of skipped files, one `path: reason` line each. Reasons that come from an error
 * message already start with the path; it is printed once.
 */
export function formatSkipped(skipped: readonly SkippedFile[]): string {
  const lines = skipped.map((s) => {
    const reason = s.reason.startsWith(`${s.path}: `) ? s.reason.slice(s.path.length + 2) : s.reason;
    return `  ${readableName(`${s.path}: ${reason}`)}`;
  });
  return `${skipped.length} file(s) skipped:\n${lines.join("\n")}\n`;
}

/** Expected errors become one line and exit 1 (2 for usage); anything else is a bug and keeps its stack. */
export function reportFailure(e: unknown): number {
  if (isCbirError(e)) {
    process.stderr.write(`error: ${readableName(e.message)}\n`);
    return e.code === "E_USAGE" || e.code === "E_BAD_OPTION" ? EXIT.usage : EXIT.failure;
  }
  process.stderr.write(`internal error (please report): ${(e as Error)?.stack ?? String(e)}\n`);
  return EXIT.failure;
}

/** Sub-commands set the process exit code through this (0 ok, 3 skipped files with --strict). */
export function setExitCode(cmd: Command, code: number): void {
  let root: Command = cmd;
  while (root.parent) root = root.parent;
  (root as Command & { exitCodeValue?: number }).exitCodeValue = code;
}
