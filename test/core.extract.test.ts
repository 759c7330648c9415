/** Batched extraction with a fake backbone: order, batching, pooling, skipped files, progress, fingerprint. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { extractFeatures, autoBatchSize } from "../lib/extract/features";
import { scanFolder } from "../lib/prepare/scan";
import type { Backbone } from "../lib/backbone/types";

/** Returns, per image, a 2x2x3 map whose every value is the image's mean preprocessed pixel. */
function fakeBackbone(calls: number[]): Backbone {
  return {
    id: "fake:mean",
    layer: "mean",
    inputSize: [8, 8],
    preprocessing: "unit",
    resize: "area",
    outputShape: [2, 2, 3],
    weightsHash: "none",
    runtime: "tfjs",
    async infer(batch, n) {
      calls.push(n);
      const per = 8 * 8 * 3;
      const out = new Float32Array(n * 12);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < per; j++) s += batch[i * per + j];
        out.fill(s / per, i * 12, (i + 1) * 12);
      }
      return out;
    },
    dispose() {},
  };
}

test("extraction keeps item order, batches, pools, skips bad files and reports progress", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-ex-"));
  const sample = path.resolve(__dirname, "../data/sample");
  for (const f of ["bird1.png", "fruit1.png", "music1.png", "vehicle1.png", "flower1.png"]) fs.copyFileSync(path.join(sample, f), path.join(dir, f));
  fs.writeFileSync(path.join(dir, "broken.png"), "definitely not a png");
  const { items } = scanFolder(dir);
  const calls: number[] = [];
  const progress: number[] = [];
  const batches: string[][] = [];
  const r = await extractFeatures(fakeBackbone(calls), items, {
    pooling: "gap",
    batchSize: 2,
    histogram: () => new Float32Array([1, 2]),
    reporter: { progress: (e) => progress.push(e.done) },
    onBatch: (b) => void batches.push(b.items.map((i) => i.name)),
  });
  assert.deepEqual(r.items.map((i) => i.name), ["bird1.png", "flower1.png", "fruit1.png", "music1.png", "vehicle1.png"]);
  assert.equal(r.features.dim, 3);
  assert.equal(r.features.data.length, 15);
  assert.deepEqual(r.skipped.map((s) => path.basename(s.path)), ["broken.png"]);
  assert.match(r.skipped[0].reason, /broken\.png/);
  assert.deepEqual(calls, [1, 2, 2], "the batch holding the broken file (bird1, broken) runs with one image");
  assert.deepEqual(progress, [2, 4, 6]);
  assert.equal(batches.flat().length, 5);
  assert.equal(r.histograms?.length, 5);
  assert.equal(r.features.fingerprint.parts.pooling, "gap");
  assert.equal(r.features.fingerprint.parts.resize, "area");
  // white-ish clip art: the mean pixel is high but below 1
  assert.ok(r.features.data.every((v) => v > 0.3 && v <= 1));
  const flat = await extractFeatures(fakeBackbone([]), items.slice(0, 2), { pooling: "flatten" });
  assert.equal(flat.features.dim, 12);
  assert.notEqual(flat.features.fingerprint.id, r.features.fingerprint.id);
});

test("a folder where nothing decodes is an error, not an empty result", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-ex-"));
  fs.writeFileSync(path.join(dir, "a.jpg"), "");
  fs.writeFileSync(path.join(dir, "b.png"), "text");
  await assert.rejects(extractFeatures(fakeBackbone([]), scanFolder(dir).items), { code: "E_NO_IMAGES" });
});

test("automatic batch size shrinks for large layers", () => {
  const small = { ...fakeBackbone([]), inputSize: [224, 224] as [number, number], outputShape: [1280] };
  const huge = { ...fakeBackbone([]), inputSize: [224, 224] as [number, number], outputShape: [56, 56, 256] };
  assert.equal(autoBatchSize(small), 32);
  assert.ok(autoBatchSize(huge) < 32 && autoBatchSize(huge) >= 1);
});

test("an image whose vector holds NaN or Infinity is skipped with a warning naming it; the rest are kept in order", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-ex-nan-"));
  const sample = path.resolve(__dirname, "../data/sample");
  for (const f of ["bird1.png", "flower1.png", "fruit1.png", "music1.png", "vehicle1.png"]) fs.copyFileSync(path.join(sample, f), path.join(dir, f));
  const { items } = scanFolder(dir);
  const good = fakeBackbone([]);
  let call = 0;
  // the second batch (fruit1, music1): one NaN and one Infinity, as a broken weight file can give
  const broken: Backbone = {
    ...good,
    async infer(batch, n) {
      const out = await good.infer(batch, n);
      if (++call === 2) (out[0] = NaN), (out[12 + 5] = Infinity);
      return out;
    },
  };
  const warnings: string[] = [];
  const r = await extractFeatures(broken, items, { pooling: "gap", batchSize: 2, histogram: () => new Float32Array([1]), reporter: { notice: (n) => void (n.level === "warn" && warnings.push(n.message)) } });
  assert.deepEqual(r.items.map((i) => i.name), ["bird1.png", "flower1.png", "vehicle1.png"]);
  assert.deepEqual(r.features.ids, ["bird1.png", "flower1.png", "vehicle1.png"]);
  assert.equal(r.features.data.length, 9);
  assert.ok(r.features.data.every(Number.isFinite));
  assert.equal(r.histograms!.length, 3);
  assert.deepEqual(r.skipped.map((s) => path.basename(s.path)), ["fruit1.png", "music1.png"]);
  for (const s of r.skipped) assert.match(s.reason, /feature vector holds NaN or Infinity/);
  assert.equal(warnings.filter((w) => /NaN or Infinity/.test(w)).length, 2, "one warning per image");
});
