/**
 * How the default offline pipeline was chosen (README "Choosing a backbone"): every bundled backbone and a
 * few layers, with and without centring and colour-histogram fusion, scored on data OTHER than the
 * steakhouse set: the first half of each class of ../shared/data/malaysian_food7 (by sorted file name,
 * first 30 per class) and data/openclipart (first 8 per class; `npm run data:openclipart`).
 * Usage: node --import tsx scripts/choose-default.ts [model:layer ...]  (CHOOSE_RUNTIME=onnx, CHOOSE_WEIGHTS=0.25,0.5)
 * Prints one Markdown table row per variant; bench/choose-default.md holds the results and the decision.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { loadBackbone } from "../lib/backbone";
import { extractFeatures } from "../lib/extract/features";
import { colorHistogram } from "../lib/extract/histogram";
import { scanFolder } from "../lib/prepare/scan";
import { makeFingerprint } from "../lib/fingerprint";
import { concatFeatures, postprocess } from "../lib/reduce";
import { rankAll } from "../lib/rank";
import { evaluate } from "../lib/evaluate";
import type { FeatureMatrix, ImageItem } from "../lib/types";

const ROOT = path.resolve(__dirname, "..");
/** Histogram fusion weights tried (CHOOSE_WEIGHTS=0.25,0.5 to change). */
const WEIGHTS = (process.env.CHOOSE_WEIGHTS ?? "0.25,0.5,1").split(",").map(Number);
const FOOD7 = path.resolve(ROOT, "../shared/data/malaysian_food7");
const CLIPART = path.join(ROOT, "data/openclipart");

function firstPerClass(items: ImageItem[], fraction: number, cap: number): ImageItem[] {
  const by = new Map<string, ImageItem[]>();
  for (const it of items) by.set(it.label!, [...(by.get(it.label!) ?? []), it]);
  const out: ImageItem[] = [];
  for (const list of by.values()) {
    list.sort((a, b) => (a.name < b.name ? -1 : 1));
    out.push(...list.slice(0, Math.min(cap, Math.floor(list.length * fraction))));
  }
  return out;
}

function score(m: FeatureMatrix, items: ImageItem[], k: number) {
  const labels = new Map(items.map((i) => [i.name, i.label!]));
  const ev = evaluate(rankAll(m, { metric: "cosine", k: m.ids.length - 1, labels }), { k: [k] });
  return { p: ev.precisionAtK[k], map: ev.mAP };
}

async function main() {
  const sets: { name: string; items: ImageItem[]; k: number }[] = [];
  if (fs.existsSync(FOOD7)) sets.push({ name: "food7-tune", items: firstPerClass(scanFolder(FOOD7).items, 0.5, 30), k: 10 });
  if (fs.existsSync(CLIPART)) sets.push({ name: "openclipart", items: firstPerClass(scanFolder(CLIPART).items, 1, 8), k: 5 });
  const candidates = process.argv.slice(2).length
    ? process.argv.slice(2)
    : ["nsfwjs/mobilenet_v2:out_relu", "nsfwjs/mobilenet_v2:block_13_expand_relu", "nsfwjs/mobilenet_v2_mid:Conv_1", "nsfwjs/inception_v3:mixed9", "nsfwjs/inception_v3:mixed10", "nsfwjs/inception_v3:mixed8"];
  for (const cand of candidates) {
    const [model, layer] = cand.split(":");
    const bb = await loadBackbone(model, { layer, runtime: process.env.CHOOSE_RUNTIME === "onnx" ? "onnx" : "tfjs" });
    for (const s of sets) {
      const t0 = performance.now();
      const ex = await extractFeatures(bb, s.items, { pooling: "gap", histogram: (rgb) => colorHistogram(rgb, 8) });
      const secs = (performance.now() - t0) / 1000;
      const hist: FeatureMatrix = { ids: ex.features.ids, dim: 512, data: new Float32Array(ex.histograms!.length * 512), fingerprint: makeFingerprint({ backbone: "hist" }) };
      ex.histograms!.forEach((h, i) => hist.data.set(h, i * 512));
      const raw = postprocess(ex.features, ["l2"]).features;
      const cen = postprocess(ex.features, ["center", "l2"]).features;
      const cenAndHist = concatFeatures([cen, hist], { normalizeBlocks: false });
      const variants: [string, FeatureMatrix][] = [
        ["l2", raw],
        ["center+l2", cen],
        // the library's fuse step on [centred CNN | histogram], its own centring off (the CNN block is centred already)
        ...WEIGHTS.map((w): [string, FeatureMatrix] => [`center+hist${w}`, postprocess(cenAndHist, [{ fuse: { split: cen.dim, weight: w, center: false } }]).features]),
      ];
      if (cand === candidates[0]) variants.push(["histogram only", hist]);
      for (const [v, m] of variants) {
        const r = score(m, ex.items, s.k);
        const row = `| ${s.name} (${ex.items.length}) | ${v === "histogram only" ? "-" : cand} | ${v} | P@${s.k} ${r.p.toFixed(3)} | mAP ${r.map.toFixed(3)} | ${(ex.items.length / secs).toFixed(1)} img/s |`;
        process.stdout.write(row + "\n");
      }
    }
    bb.dispose();
  }
}
main();
