/**
 * The Reporter notebooks use: log lines and notices go to the cell output; progress is printed at 0%,
 * every 25% and 100% (notebook output cannot redraw a line in place).
 */
import type { Reporter } from "./report";
import { printMilestone } from "./progress";

export function notebookReporter(options: { quiet?: boolean } = {}): Reporter {
  const milestones = new Map<string, { step: number; done: number }>();
  return {
    log: (line) => {
      if (!options.quiet) console.log(line);
    },
    notice: (n) => console.log(`${n.level === "warn" ? "warning" : "note"}: ${n.message}`),
    progress: (ev) => {
      if (!options.quiet && ev.total >= 2) printMilestone(milestones, ev, (line) => console.log(line));
    },
  };
}
