/** The main job end to end on the bundled sample, as `npm start` runs it. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import sharp from "sharp";

const ROOT = path.resolve(__dirname, "..");
/** `npm start` with DEFAULT_CONFIG: "P@5 = 0.661, mAP = 0.765 (36 queries, leave-one-out)". */
const SAMPLE_P5 = 0.661;
const SAMPLE_MAP = 0.765;

test("cbir demo on data/sample writes 36 recommendation figures, tsne.png and report.json", { timeout: 10 * 60 * 1000 }, async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-demo-"));
  const r = spawnSync(process.execPath, ["bin/cbir.cjs", "demo", "--out", out], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  for (const line of ["Reading images from 'data/sample' directory...", "imgs.shape = (36, 224, 224, 3)", "X_features.shape = (36, 768)", "[1/36] Plotting similar image recommendations for: bird1.png", "Plotting tSNE to"])
    assert.ok(r.stdout.includes(line), `log line missing: ${line}\n${r.stdout}`);
  const recs = fs.readdirSync(path.join(out, "rec"));
  assert.equal(recs.length, 36);
  assert.ok(recs.includes("fruit1_rec.png") && recs.includes("computer6_rec.png"));
  const meta = await sharp(path.join(out, "rec", "fruit1_rec.png")).metadata();
  assert.equal(meta.format, "png");
  assert.ok((meta.width ?? 0) > 400);
  assert.equal((await sharp(path.join(out, "tsne.png")).metadata()).format, "png");
  const report = JSON.parse(fs.readFileSync(path.join(out, "report.json"), "utf8"));
  assert.equal(report.images, 36);
  assert.deepEqual(report.skipped, []);
  assert.equal(report.settings.model, "mobilenet_v1_0.75_224", "the bundled ImageNet MobileNet v1 is the default");
  assert.equal(report.settings.runtime, "onnx", "ONNX Runtime is the default runtime");
  assert.ok(!/running it with tfjs|not available/.test(r.stderr), `the default backbone must not fall back to tfjs:\n${r.stderr}`);
  assert.match(report.fingerprint.id, /^[0-9a-f]{16}$/);
  // the default's measured quality on data/sample (README "Quality"): a regression of more than 0.03 fails
  assert.ok(Math.abs(report.precisionAtK - SAMPLE_P5) <= 0.03, `P@5 ${report.precisionAtK}, measured ${SAMPLE_P5}`);
  assert.ok(Math.abs(report.mAP - SAMPLE_MAP) <= 0.03, `mAP ${report.mAP}, measured ${SAMPLE_MAP}`);
  assert.ok(report.timings.images_per_s > 0);
});

test("cbir: usage errors exit 2, a missing folder exits 1 with one line naming it", () => {
  const usage = spawnSync(process.execPath, ["bin/cbir.cjs", "demo", "-k", "zero"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(usage.status, 2, usage.stderr);
  assert.match(usage.stderr, /Expected integer for k/);
  const missing = spawnSync(process.execPath, ["bin/cbir.cjs", "demo", "/no/such/dir"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr.trim().split("\n").length, 1, missing.stderr);
  assert.match(missing.stderr, /^error: .*\/no\/such\/dir.*Fix: /);
  const help = spawnSync(process.execPath, ["bin/cbir.cjs", "--help"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /demo/);
});
