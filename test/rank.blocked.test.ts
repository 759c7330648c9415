import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { makeFingerprint } from "../lib/fingerprint";
import type { FeatureMatrix, Ranking } from "../lib/types";
import { exactSearch, topK } from "../lib/rank";
import { averagePrecision, evaluate, rankAndEvaluate, ScoreRowAveragePrecision } from "../lib/evaluate/index";
import { renderRecommendation } from "../lib/plot";
import { ThumbnailCache } from "../lib/plot/thumbs";
import { RED, countColour, imageFolder, pngInfo } from "./plot.fixtures";

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * n rows of d values drawn from a few levels, every fifth row a copy of an earlier one: many exact score
 * ties, which the rankings must break by the lower index whatever the block boundaries.
 */
function tiedMatrix(n: number, d: number, seed: number, prefix = "img"): { m: FeatureMatrix; labels: Map<string, string> } {
  const rand = lcg(seed);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const src = Math.floor(rand() * i);
    if (i % 5 === 4) data.copyWithin(i * d, src * d, src * d + d);
    else for (let k = 0; k < d; k++) data[i * d + k] = Math.round(rand() * 4) / 4 - 0.25;
  }
  const ids = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const labels = new Map(ids.map((id, i) => [id, `c${i % 4}`] as const));
  return { m: { ids, dim: d, data, fingerprint: makeFingerprint({ backbone: "rand" }) }, labels };
}

/** The reference order: sort the whole row, better signed score first, ties by the lower index, NaN last. */
function bruteOrder(s: ArrayLike<number>, hib: boolean, skip: number): number[] {
  const key = (i: number) => (Number.isNaN(s[i]) ? -Infinity : (hib ? 1 : -1) * s[i]);
  return Array.from({ length: s.length }, (_, i) => i)
    .filter((i) => i !== skip)
    .sort((a, b) => (key(a) > key(b) ? -1 : key(a) < key(b) ? 1 : a - b));
}

test("topK equals a full sort on rows with ties, NaN, -0 and infinities", async () => {
  const rand = lcg(7);
  const levels = [0, -0, 1, -1, 0.5, NaN, Infinity, -Infinity, 0.25];
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + Math.floor(rand() * 120);
    const s = Float32Array.from({ length: n }, () => levels[Math.floor(rand() * levels.length)]);
    const hib = trial % 2 === 0;
    const skip = trial % 3 === 0 ? Math.floor(rand() * n) : -1;
    const k = 1 + Math.floor(rand() * 12);
    assert.deepEqual(topK(s, k, hib, skip), bruteOrder(s, hib, skip).slice(0, k), `trial ${trial}`);
  }
});

test("AP from a score row equals AP over the sorted full ranking, to the last bit", async () => {
  const rand = lcg(11);
  const levels = [0, -0, 1, -1, 0.5, NaN, Infinity, -Infinity, 0.25, 0.75];
  for (let trial = 0; trial < 300; trial++) {
    const n = 2 + Math.floor(rand() * 150);
    const continuous = trial % 4 === 0;
    const s = Float32Array.from({ length: n }, () => (continuous ? rand() * 2 - 1 : levels[Math.floor(rand() * levels.length)]));
    const relevant = Array.from({ length: n }, (_, i) => i).filter(() => rand() < 0.3);
    const hib = trial % 2 === 0;
    const skip = trial % 3 === 0 ? Math.floor(rand() * n) : -1;
    const order = bruteOrder(s, hib, skip);
    const rel = new Set(relevant);
    const ranking: Ranking = { query: "q", queryLabel: "x", metric: "m", higherIsBetter: hib, hits: order.map((j) => ({ id: `${j}`, score: s[j], label: rel.has(j) ? "x" : "y" })) };
    const want = averagePrecision(ranking);
    const got = new ScoreRowAveragePrecision(n).compute(s, relevant, hib, skip);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(got), `trial ${trial}: no relevant item`);
    else assert.equal(got, want, `trial ${trial}`);
  }
});

test("blocked rank-and-evaluate equals evaluate() over full rankings, for any block size", async () => {
  const { m, labels } = tiedMatrix(53, 6, 3);
  const k = [1, 3, 10];
  for (const metric of ["cosine", "euclidean", "ssim-features", "ssim-over-euclidean"] as const) {
    for (const qe of [0, 3]) {
      const full = await exactSearch(m, "loo", { metric, k: Infinity, labels, queryExpansion: qe });
      const want = evaluate(full, { k });
      for (const batch of [1, 4, 7, 53, 64]) {
        const got = await rankAndEvaluate(m, { metric, k, labels, queryExpansion: qe, batch, kernel: "js" });
        const what = `${metric} qe ${qe} batch ${batch}`;
        assert.deepEqual(got.evaluation, want, what);
        assert.equal(got.rankings.length, 53);
        got.rankings.forEach((r, i) => assert.deepEqual(r.hits, full[i].hits.slice(0, 10), `${what} query ${i}`));
      }
    }
  }
});

test("blocked rank-and-evaluate with external queries, and on the ONNX Runtime kernel", async () => {
  const { m: db, labels } = tiedMatrix(61, 8, 5);
  const { m: q, labels: qLabels } = tiedMatrix(9, 8, 6, "q");
  qLabels.set("q8", "unknown-class");
  for (const qe of [0, 2]) {
    const full = await exactSearch(db, q, { k: Infinity, labels, queryLabels: qLabels, queryExpansion: qe });
    const want = evaluate(full, { k: [1, 5], dbLabels: labels, mode: "external" });
    for (const batch of [2, 5, 100]) {
      const got = await rankAndEvaluate(db, { k: [1, 5], labels, queries: q, queryLabels: qLabels, queryExpansion: qe, batch, kernel: "js" });
      assert.deepEqual(got.evaluation, want, `qe ${qe} batch ${batch}`);
      got.rankings.forEach((r, i) => assert.deepEqual(r.hits, full[i].hits.slice(0, 5)));
    }
  }
  // ONNX Runtime's Gemm may round differently in the last bit: same figures within float precision
  const { m, labels: l } = tiedMatrix(200, 24, 8);
  const js = await rankAndEvaluate(m, { k: [5], labels: l, queryExpansion: 2, kernel: "js" });
  const ort = await rankAndEvaluate(m, { k: [5], labels: l, queryExpansion: 2, kernel: "onnx", batch: 33 });
  assert.ok(Math.abs(js.evaluation!.mAP - ort.evaluation!.mAP) < 1e-4, `${js.evaluation!.mAP} vs ${ort.evaluation!.mAP}`);
  assert.ok(Math.abs(js.evaluation!.precisionAtK[5] - ort.evaluation!.precisionAtK[5]) < 0.02);
});

test("evaluate() refuses precomputed AP without database labels or of the wrong length", async () => {
  const r: Ranking = { query: "a", queryLabel: "x", hits: [], metric: "cosine", higherIsBetter: true };
  assert.throws(() => evaluate([r], { averagePrecision: [0.5] }), /averagePrecision/);
  assert.throws(() => evaluate([r], { averagePrecision: [], dbLabels: new Map([["a", "x"]]) }), /averagePrecision/);
  assert.equal(evaluate([r], { k: [1], averagePrecision: [0.25], dbLabels: new Map([["a", "x"], ["b", "x"]]) }).mAP, 0.25);
});

const haveSample = fs.existsSync(path.join(__dirname, "../data/sample"));
test("real features of data/sample: blocked path equals the full rankings (default pipeline, QE 10)", { skip: haveSample ? false : "data/sample missing", timeout: 5 * 60 * 1000 }, async () => {
  const { scanFolder } = await import("../lib/prepare/scan");
  const { computeFeatures } = await import("../lib/pipeline/features");
  const scan = scanFolder(path.join(__dirname, "../data/sample"));
  const pf = await computeFeatures(scan.items, {});
  const labels = new Map(pf.items.map((it) => [it.name, it.label!] as const));
  const full = await exactSearch(pf.features, "loo", { k: Infinity, labels, queryExpansion: 10 });
  const got = await rankAndEvaluate(pf.features, { k: [1, 5, 10], labels, queryExpansion: 10, batch: 7 });
  assert.deepEqual(got.evaluation, evaluate(full, { k: [1, 5, 10] }));
  got.rankings.forEach((r, i) => assert.deepEqual(r.hits, full[i].hits.slice(0, 10)));
});

test("thumbnail cache: figures identical to decoding the sources, later figures read the cached file", async () => {
  const fx = await imageFolder();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-thumbs-"));
  try {
    const cache = new ThumbnailCache(dir, 100);
    const hits = [{ item: fx.blue, score: 0.9 }, { item: fx.red, score: 0.5 }];
    const plain = await renderRecommendation({ item: fx.red }, hits, { thumb: 100 });
    const cached = await renderRecommendation({ item: fx.red }, hits, { thumb: 100, loadThumb: cache.load });
    assert.ok(plain.equals(cached), "same pixels through the cache");
    const entry = cache.entryPath(fx.blue.path)!;
    assert.ok(fs.existsSync(entry), "the thumbnail was written once");
    // overwrite the cached blue thumbnail with red: a figure drawn next must show red, not decode blue again
    await sharp({ create: { width: 50, height: 100, channels: 3, background: RED } }).png().toFile(entry);
    const again = await pngInfo(await renderRecommendation({ item: fx.blue }, [], { thumb: 100, loadThumb: cache.load }));
    assert.ok(countColour(again.pixels, RED) >= 50 * 100 * 0.95, "served from the cache");
    // an unreadable image is a placeholder, as without the cache
    const bad = await cache.get(fx.corrupt.path, 100);
    assert.equal(bad.ok, false);
    // smaller boxes (the t-SNE map) are resized from the cached thumbnail
    const small = await cache.get(fx.red.path, 20);
    assert.ok(small.ok && small.width === 20 && small.height === 15);
  } finally {
    fx.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
