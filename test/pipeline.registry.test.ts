/**
 * The registries take entries defined outside lib/: a toy metric and a toy pooling, registered from this
 * file alone, run through evaluateFolder (the library entry of `cbir eval`) and through `cbir eval` itself,
 * with no other edit anywhere.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { main } from "../lib/cli/main";
import { evaluateFolder } from "../lib/pipeline/evaluate-folder";
import { registerMetric, type VectorMetric } from "../lib/rank/metrics/index";

declare module "../lib/rank/metrics/index" {
  interface RegisteredMetricNames {
    "toy-dot": true;
  }
}

const SAMPLE = path.resolve(__dirname, "..", "data", "sample");

/** The raw dot product. The pipeline's final vectors are L2-normalised, so it must rank exactly as cosine. */
const toyDot: VectorMetric = {
  name: "toy-dot",
  higherIsBetter: true,
  onFeatures: true,
  describe: "raw dot product (test metric)",
  prepare: (data) => ({ data }),
  finish() {},
};
registerMetric(toyDot);

/** Runs `cbir <argv>` in this process; returns the exit code and what it printed. */
async function cbir(argv: string[]): Promise<{ code: number; out: string }> {
  let out = "";
  const write = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return { code: await main(argv), out };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
}

test("a metric registered from a test file ranks through evaluateFolder and cbir eval", { timeout: 300_000 }, async () => {
  const settings = { histogramWeight: 0, queryExpansion: 0 };
  const toy = await evaluateFolder(SAMPLE, { ...settings, metric: "toy-dot" }, { k: [1, 5] });
  const cosine = await evaluateFolder(SAMPLE, { ...settings, metric: "cosine" }, { k: [1, 5] });
  assert.equal(toy.settings.metric, "toy-dot");
  assert.deepEqual(toy.rankings.map((r) => r.hits.map((h) => h.id)), cosine.rankings.map((r) => r.hits.map((h) => h.id)), "dot products of unit vectors rank as cosine");
  assert.deepEqual(toy.evaluation.precisionAtK, cosine.evaluation.precisionAtK);
  assert.ok(Math.abs(toy.evaluation.mAP - cosine.evaluation.mAP) < 1e-9, `${toy.evaluation.mAP} vs ${cosine.evaluation.mAP}`);
  const run = await cbir(["eval", SAMPLE, "--metric", "toy-dot", "--hist-weight", "0", "--qe", "0", "--quiet"]);
  assert.equal(run.code, 0, run.out);
  assert.match(run.out, /, toy-dot, leave-one-out/, "the CLI offers and uses the registered metric");
  assert.match(run.out, new RegExp(`mAP ${cosine.evaluation.mAP.toFixed(3)}`));
});
