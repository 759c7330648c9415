/** --gem-p reaches the config, the vectors' fingerprint and the index record; bad values are one error line naming the flag. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command } from "commander";
import { cliInProcess } from "./cli.fixtures";
import { addPipelineOptions, configFromOptions } from "../lib/cli/options";
import { DEFAULT_CONFIG } from "../lib/config";
import { Pipeline } from "../lib/pipeline/pipeline";
import type { Backbone } from "../lib/backbone/types";
import { SAMPLE_DIR } from "./fixtures/bad-images";

const backbone = { id: "fake", weightsHash: "w", layer: "l", inputSize: [8, 8], resize: "bilinear", preprocessing: "tf", outputShape: [2, 2, 4], dispose() {} } as unknown as Backbone;

async function pipelineFor(args: string[]) {
  const cmd = addPipelineOptions(new Command().exitOverride());
  cmd.parse(args, { from: "user" });
  return Pipeline.open(configFromOptions(cmd.opts()), { backbone });
}

test("--gem-p changes the fingerprint and is recorded for the index manifest", async () => {
  assert.equal(DEFAULT_CONFIG.pooling, "gem");
  const byDefault = await pipelineFor([]);
  const p3 = await pipelineFor(["--gem-p", "3"]);
  assert.equal(byDefault.fingerprint.parts.pooling, `gem${DEFAULT_CONFIG.gemP}`);
  assert.equal(p3.fingerprint.parts.pooling, "gem3");
  assert.notEqual(p3.fingerprint.id, byDefault.fingerprint.id);
  assert.equal(p3.record.gemP, 3);
  assert.equal(byDefault.record.gemP, DEFAULT_CONFIG.gemP);
});

const cli = cliInProcess;

test("a bad --gem-p is one error line naming --gem-p, before any work", { skip: !fs.existsSync(SAMPLE_DIR) && "data/sample is absent" }, async () => {
  const noModel = path.join(os.tmpdir(), "cbir-no-such-model", "model.json");
  for (const command of ["eval", "index"])
    for (const value of ["0.5", "x", "", "Infinity"]) {
      const r = await cli([command, SAMPLE_DIR, "--model", noModel, `--gem-p=${value}`]);
      const what = `${command} --gem-p ${JSON.stringify(value)}`;
      assert.equal(r.code, 2, `${what}: ${r.err}`);
      const errors = r.err.split("\n").filter((l) => l.startsWith("error:"));
      assert.equal(errors.length, 1, `${what}: ${r.err}`);
      assert.match(errors[0], /for --gem-p but received/, what);
      assert.equal(r.out, "", what);
    }
});
