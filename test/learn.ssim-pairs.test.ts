import { test } from "node:test";
import * as assert from "node:assert/strict";
import { pairSsimFromImages } from "../lib/learn/ssim-pairs";
import { imageSsim, type PixelImage } from "../lib/rank/structural-similarity";
import { seededRandom } from "../lib/learn/train";

function image(seed: number, w = 24, h = 20): PixelImage {
  const r = seededRandom(seed);
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(120 + 80 * Math.sin((x + seed * c) / 3) + 60 * (r() - 0.5))));
  return { data, width: w, height: h, channels: 3 };
}

test("the cached colour SSIM equals imageSsim (ssim.js 'original', mean over R, G, B), symmetric, 1 on the diagonal", () => {
  const imgs = [1, 2, 3, 4].map((s) => image(s));
  const f = pairSsimFromImages(imgs);
  for (let i = 0; i < 4; i++)
    for (let j = 0; j < 4; j++) {
      if (i === j) {
        assert.equal(f(i, j), 1);
        continue;
      }
      const want = imageSsim(imgs[i], imgs[j], { colour: "colour" });
      assert.ok(Math.abs(f(i, j) - want) < 1e-9, `${i},${j}: ${f(i, j)} vs ${want}`);
      assert.equal(f(i, j), f(j, i));
    }
});

test("images of different sizes or too small for the window are refused", () => {
  assert.throws(() => pairSsimFromImages([image(1), image(2, 20, 24)]), /Expected RGB images of one size \(24x20x3\) for images/);
  assert.throws(() => pairSsimFromImages([image(1, 8, 8)]), /at least 11 px/);
});
