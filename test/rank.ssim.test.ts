import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { imageSsim, exactSearch, rerankWithSsim, type PixelImage } from "../lib/rank";
import { makeFingerprint } from "../lib/fingerprint";
import type { Ranking } from "../lib/types";

interface Fixture {
  width: number;
  height: number;
  images: Record<string, number[]>;
  pairs: { a: string; b: string; grey: number; colour: number }[];
}
const fixture: Fixture = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures/ssim-reference.json"), "utf8"));
const img = (name: string): PixelImage => ({ data: Uint8Array.from(fixture.images[name]), width: fixture.width, height: fixture.height, channels: 3 });

test("ssim.js 'original' matches scikit-image structural_similarity within 1e-3 (grey and colour)", async () => {
  for (const p of fixture.pairs) {
    const grey = imageSsim(img(p.a), img(p.b), { colour: "grey" });
    const colour = imageSsim(img(p.a), img(p.b), { colour: "colour" });
    assert.ok(Math.abs(grey - p.grey) < 1e-3, `${p.a}/${p.b} grey ${grey} vs skimage ${p.grey}`);
    assert.ok(Math.abs(colour - p.colour) < 1e-3, `${p.a}/${p.b} colour ${colour} vs skimage ${p.colour}`);
  }
});

test("ssim.js box-window variants differ from scikit-image's Gaussian SSIM (documented, not a bug)", async () => {
  const p = fixture.pairs.find((x) => x.a === "gradient" && x.b === "gradient-noisy")!;
  const weber = imageSsim(img(p.a), img(p.b), { variant: "weber" });
  assert.ok(Math.abs(weber - p.grey) > 1e-3, `weber ${weber} vs ${p.grey}`);
});

test("ssim-image ranking and size checks", async () => {
  const names = ["waves", "checker", "waves-shifted"];
  const dim = fixture.width * fixture.height * 3;
  const data = new Float32Array(names.length * dim);
  names.forEach((n, i) => data.set(fixture.images[n], i * dim));
  const m = { ids: names, dim, data, fingerprint: makeFingerprint({ backbone: "pixels" }) };
  const r = await exactSearch(m, "loo", { metric: "ssim-image", k: Infinity, image: { width: fixture.width, height: fixture.height, channels: 3 } });
  assert.deepEqual(r[0].hits.map((h) => h.id), ["waves-shifted", "checker"]);
  await assert.rejects(exactSearch(m, "loo", { metric: "ssim-image" }), /image shape/);
  const small: PixelImage = { data: new Uint8Array(5 * 5), width: 5, height: 5, channels: 1 };
  assert.throws(() => imageSsim(small, small), /at least 11 px/);
});

test("SSIM re-ranking reorders the top N and keeps the rest", async () => {
  const ranking: Ranking = {
    query: "waves",
    hits: [
      { id: "checker", score: 0.9 },
      { id: "waves-shifted", score: 0.8 },
      { id: "gradient", score: 0.7 },
    ],
    metric: "cosine",
    higherIsBetter: true,
  };
  const [r] = await rerankWithSsim([ranking], async (id) => img(id), { topN: 2 });
  assert.deepEqual(r.hits.map((h) => h.id), ["waves-shifted", "checker", "gradient"]);
  assert.equal(r.hits[2].score, 0.7);
  assert.equal(r.metric, "cosine+ssim-rerank2");
});

const sample = path.resolve(__dirname, "../data/sample");
test("pixelMatrix: one grey row per image at the asked size, ready for ssim-image", { skip: fs.existsSync(sample) ? false : "data/sample missing" }, async () => {
  const { pixelMatrix } = await import("../lib/extract/pixels");
  const items = ["bird1.png", "bird2.png", "fruit1.png"].map((n) => ({ name: n, path: path.join(sample, n) }));
  const { features, image } = await pixelMatrix(items, { size: [24, 32] });
  assert.deepEqual(image, { width: 32, height: 24, channels: 1 });
  assert.equal(features.dim, 24 * 32);
  assert.ok(features.data.every((v) => Number.isInteger(v) && v >= 0 && v <= 255));
  const r = await exactSearch(features, "loo", { metric: "ssim-image", k: 2, image });
  assert.equal(r[0].hits.length, 2);
  assert.ok(r[0].hits[0].score <= 1 && r[0].hits[0].score >= -1);
  // the engine hands ssim-image's score rows to onRow like every vector metric's: rankAndEvaluate scores it
  const { rankAndEvaluate, evaluate } = await import("../lib/evaluate/index");
  const labels = new Map(items.map((it) => [it.name, it.name.replace(/\d.*$/, "")] as const));
  const got = await rankAndEvaluate(features, { metric: "ssim-image", image, labels, k: [1, 2] });
  assert.deepEqual(got.evaluation, evaluate(await exactSearch(features, "loo", { metric: "ssim-image", k: Infinity, image, labels }), { k: [1, 2] }));
});
