/**
 * How the default offline pipeline was chosen (README "Choosing a backbone"): every bundled backbone and a
 * few layers, with and without centring and colour-histogram fusion, scored on data OTHER than the
 * steakhouse set: the first half of each class of ../shared/data/malaysian_food7 (by sorted file name,
 * first 30 per class) and data/openclipart (first 8 per class; `npm run data:openclipart`).
 * Usage: node --import tsx scripts/choose-default.ts [model:layer ...]  (CHOOSE_RUNTIME=onnx, CHOOSE_WEIGHTS=0.25,0.5)
 * Every variant is a row of one sweep() (lib/pipeline/sweep.ts): the shipped pipeline's own pooling,
 * post-processing (centring, histogram fusion) and ranking, scored leave-one-out as `cbir eval` scores it.
 * Prints one Markdown table row per variant; bench/choose-default.md holds the results and the decision.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { PipelineConfig } from "../lib/config";
import { sweep } from "../lib/pipeline/sweep";
import { scanFolder } from "../lib/prepare/scan";
import type { ImageItem } from "../lib/types";

const ROOT = path.resolve(__dirname, "..");
const FOOD7 = path.resolve(ROOT, "../shared/data/malaysian_food7");
const CLIPART = path.join(ROOT, "data/openclipart");
const CANDIDATES = ["nsfwjs/mobilenet_v2:out_relu", "nsfwjs/mobilenet_v2:block_13_expand_relu", "nsfwjs/mobilenet_v2_mid:Conv_1", "nsfwjs/inception_v3:mixed9", "nsfwjs/inception_v3:mixed10", "nsfwjs/inception_v3:mixed8"];

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

const variant = (s: Readonly<PipelineConfig>) => (s.histogramWeight > 0 ? `center+hist${s.histogramWeight}` : s.center ? "center+l2" : "l2");

async function main() {
  // read here, when used: histogram fusion weights tried and the runtime
  const weights = (process.env.CHOOSE_WEIGHTS ?? "0.25,0.5,1").split(",").map(Number);
  const runtime: PipelineConfig["runtime"] = process.env.CHOOSE_RUNTIME === "onnx" ? "onnx" : "tfjs";
  const sets: { name: string; items: ImageItem[]; k: number }[] = [];
  if (fs.existsSync(FOOD7)) sets.push({ name: "food7-tune", items: firstPerClass(scanFolder(FOOD7).items, 0.5, 30), k: 10 });
  if (fs.existsSync(CLIPART)) sets.push({ name: "openclipart", items: firstPerClass(scanFolder(CLIPART).items, 1, 8), k: 5 });
  const candidates = process.argv.slice(2).length ? process.argv.slice(2) : CANDIDATES;
  for (const cand of candidates) {
    const [model, layer] = cand.split(":");
    for (const s of sets) {
      const rows = await sweep(s.items, {
        base: { model, layer, runtime, pooling: "gap", metric: "cosine", whiten: 0, queryExpansion: 0 },
        // the fused rows centre both blocks, as the shipped fusion step does
        extra: [{ center: false, histogramWeight: 0 }, { center: true, histogramWeight: 0 }, ...weights.map((w) => ({ center: true, histogramWeight: w }))],
      }, { k: [s.k] });
      for (const r of rows)
        process.stdout.write(`| ${s.name} (${s.items.length}) | ${cand} | ${variant(r.settings)} | P@${s.k} ${r.evaluation.precisionAtK[s.k].toFixed(3)} | mAP ${r.evaluation.mAP.toFixed(3)} |\n`);
    }
  }
}
main();
