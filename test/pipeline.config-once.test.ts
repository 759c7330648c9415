/**
 * Each command resolves its config once, at its entry, and passes it down resolved (lib/config.ts
 * configResolutions counts them): eval, index, query and demo, run in-process as `cbir` runs them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { configResolutions } from "../lib/config";
import { main } from "../lib/cli/main";

const SAMPLE = path.resolve(__dirname, "..", "data", "sample");

/** Runs `cbir <argv>` in this process with its output swallowed; returns the exit code. */
async function cbir(argv: string[]): Promise<{ code: number; resolutions: number }> {
  const before = configResolutions();
  const write = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    const code = await main(argv);
    return { code, resolutions: configResolutions() - before };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
}

test("eval, index, query and demo each resolve their config once", { timeout: 300_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-config-once-"));
  try {
    const index = path.join(dir, "index");
    const runs: [string, string[]][] = [
      ["eval", ["eval", SAMPLE, "--quiet"]],
      ["index", ["index", SAMPLE, "--index", index, "--quiet"]],
      ["query", ["query", index, path.join(SAMPLE, "bird1.png"), "-k", "3", "--no-figures", "--quiet"]],
      ["demo", ["demo", SAMPLE, "--out", path.join(dir, "out"), "--no-tsne", "--quiet"]],
    ];
    for (const [name, argv] of runs) {
      const { code, resolutions } = await cbir(argv);
      assert.equal(code, 0, `cbir ${name} succeeds`);
      assert.equal(resolutions, 1, `cbir ${name} resolves its config once`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
