/** The main job end to end on the bundled sample, as `npm start` runs it. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import sharp from "sharp";

const ROOT = path.resolve(__dirname, "..");

test("cbir demo on data/sample writes 36 recommendation figures, tsne.png and report.json", { timeout: 10 * 60 * 1000 }, async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-demo-"));
  const r = spawnSync(process.execPath, ["bin/cbir.cjs", "demo", "--out", out], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  for (const line of ["Reading images from 'data/sample' directory...", "imgs.shape = (36, 224, 224, 3)", "X_features.shape = (36, 576)", "[1/36] Plotting similar image recommendations for: bird1.png", "Plotting tSNE to"])
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
  assert.equal(report.settings.model, "nsfwjs/mobilenet_v2");
  assert.equal(report.settings.runtime, "onnx", "ONNX Runtime is the default runtime");
  assert.ok(!/running it with tfjs|not available/.test(r.stderr), `the default backbone must not fall back to tfjs:\n${r.stderr}`);
  assert.match(report.fingerprint.id, /^[0-9a-f]{16}$/);
  assert.ok(report.precisionAtK > 1 / 6, `P@5 ${report.precisionAtK} should beat chance (1/6)`);
  assert.ok(report.mAP > 0 && report.mAP <= 1);
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
