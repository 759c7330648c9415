import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { colorHistogram } from "../lib/extract/histogram";

test("square-rooted histogram: bins, unit norm, Hellinger similarity", async () => {
  // 4 pixels: 3 pure red, 1 pure blue; 2 bins per channel -> index (r*2+g)*2+b
  const rgb = Uint8Array.from([255, 0, 0, 255, 0, 0, 255, 0, 0, 0, 0, 255]);
  const h = colorHistogram(rgb, 2);
  assert.equal(h.length, 8);
  assert.ok(Math.abs(h[4] - Math.sqrt(0.75)) < 1e-6, "red bin (1,0,0)");
  assert.ok(Math.abs(h[1] - Math.sqrt(0.25)) < 1e-6, "blue bin (0,0,1)");
  let norm = 0;
  for (const v of h) norm += v * v;
  assert.ok(Math.abs(norm - 1) < 1e-6);
  assert.equal(colorHistogram(rgb).length, 512);
  assert.throws(() => colorHistogram(Uint8Array.from([1, 2])), /multiple of 3/);
});

const steak = path.resolve(__dirname, "../../shared/data/steakhouse/db");
test("steakhouse floor: P@5 0.678 / mAP 0.783 leave-one-out (PROBES.md)", { skip: fs.existsSync(steak) ? false : `no ${steak} (../shared absent)` }, async () => {
  const { scanFolder } = await import("../lib/prepare/scan");
  const { histogramFeatures } = await import("../lib/extract/histogram");
  const { exactSearch } = await import("../lib/rank");
  const { evaluate } = await import("../lib/evaluate");
  const { items } = scanFolder(steak);
  const labels = new Map(items.map((i) => [i.name, i.label!] as [string, string]));
  const { features } = await histogramFeatures(items);
  const ev = evaluate(await exactSearch(features, "loo", { k: Infinity, labels }), { k: [5] });
  assert.equal(ev.precisionAtK[5].toFixed(3), "0.678");
  assert.equal(ev.mAP.toFixed(3), "0.783");
});
