/** `cbir` run in the test's own process (so registrations and counters of the test file are seen). */
import { main } from "../lib/cli/main";

/** Runs the CLI in this process, capturing what it prints; returns the exit code and both streams. */
export async function cliInProcess(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    return { code: await main(args), out, err };
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}
