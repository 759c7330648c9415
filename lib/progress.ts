/**
 * Progress as text, shared by the command line (lib/cli/output.ts) and notebooks (lib/notebook.ts): a bar
 * and milestone lines. Nothing here prints; callers pass the function that does.
 */
import type { ProgressEvent } from "./report";

export function progressBar(done: number, total: number, width = 30): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const full = Math.round(frac * width);
  return `[${"#".repeat(full)}${"-".repeat(width - full)}] ${done}/${total}`;
}

/** Prints a stage's progress at 0%, 25%, 50%, 75% and 100%; a stage whose count goes back starts again. */
export function printMilestone(state: Map<string, { step: number; done: number }>, ev: ProgressEvent, print: (line: string) => void): void {
  const prev = state.get(ev.stage);
  const fresh = !prev || ev.done < prev.done;
  const step = ev.done >= ev.total ? 4 : Math.floor((ev.done / ev.total) * 4);
  if (fresh || step > prev.step) print(`${ev.stage} ${progressBar(ev.done, ev.total)}`);
  state.set(ev.stage, { step: fresh ? step : Math.max(step, prev.step), done: ev.done });
}
