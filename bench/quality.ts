/**
 * Bench section "quality": retrieval quality, honestly. Every setting (fusion weight, query expansion) is
 * chosen on the first half of each class of food7 (by sorted file name) and then reported, unchanged, on
 * food7's second half, the steakhouse set and the medical set. Leave-one-out, cosine; the square-rooted
 * colour histogram is the floor every CNN pipeline must beat. Needs ../shared (skipped without it).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DEFAULT_CONFIG, type PipelineConfig } from "../lib/config";
import { evaluate } from "../lib/evaluate/index";
import { scanFolder } from "../lib/prepare/scan";
import { rankAll } from "../lib/rank/index";
import { postprocess, selectColumns, type PostStep } from "../lib/reduce/index";
import { openPipeline } from "../lib/store/pipeline";
import type { FeatureMatrix, ImageItem } from "../lib/types";

const SHARED = path.resolve(__dirname, "../../shared");
const HIST_WEIGHTS = [0, 0.25, 0.5, 1];
const EXPANSIONS = [0, 1, 2];

interface Dataset {
  name: string;
  items: ImageItem[];
  k: number;
}

function halves(items: ImageItem[]): [ImageItem[], ImageItem[]] {
  const by = new Map<string, ImageItem[]>();
  for (const it of items) by.set(it.label!, [...(by.get(it.label!) ?? []), it]);
  const first: ImageItem[] = [];
  const second: ImageItem[] = [];
  for (const list of by.values()) {
    list.sort((a, b) => (a.name < b.name ? -1 : 1));
    const h = Math.floor(list.length / 2);
    first.push(...list.slice(0, h));
    second.push(...list.slice(h));
  }
  return [first, second];
}

function score(raw: FeatureMatrix, cnnDim: number, items: ImageItem[], weight: number, qe: number, k: number) {
  const steps: PostStep[] = weight > 0 && raw.dim > cnnDim ? [{ fuse: { split: cnnDim, weight, center: true } }] : ["center", "l2"];
  const cnnOnly = weight > 0 || raw.dim === cnnDim ? raw : selectColumns(raw, 0, cnnDim);
  const { features } = postprocess(cnnOnly, steps);
  const labels = new Map(items.map((i) => [i.name, i.label!]));
  const ev = evaluate(rankAll(features, { metric: "cosine", k: features.ids.length - 1, labels, queryExpansion: qe }), { k: [k] });
  return { p: ev.precisionAtK[k], map: ev.mAP };
}

/** The zoo model from ../shared/models, through a temporary pre-seeded cache (never a download). */
function seedZooCache(): boolean {
  const src = path.join(SHARED, "models/mobilenet_v1_0.75_224");
  if (!fs.existsSync(src)) return false;
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-bench-zoo-"));
  fs.cpSync(src, path.join(cache, "mobilenet_v1_0.75_224"), { recursive: true });
  process.env.CBIR_CACHE_DIR = cache;
  return true;
}

export async function runQualityBench(): Promise<Record<string, unknown>> {
  const food7 = path.join(SHARED, "data/malaysian_food7");
  if (!fs.existsSync(food7)) return { skipped: "../shared/data is absent" };
  const [tune, held] = halves(scanFolder(food7).items);
  const reports: Dataset[] = [
    { name: "food7-second-half", items: held, k: 10 },
    { name: "steakhouse", items: scanFolder(path.join(SHARED, "data/steakhouse/db")).items, k: 5 },
    { name: "medical46", items: scanFolder(path.join(SHARED, "data/medical46")).items, k: 5 },
  ];
  const backbones: { name: string; config: Partial<PipelineConfig> }[] = [{ name: "default (bundled)", config: { model: DEFAULT_CONFIG.model, layer: DEFAULT_CONFIG.layer } }];
  if (seedZooCache()) backbones.push({ name: "zoo MobileNet v1", config: { model: "mobilenet_v1_0.75_224", layer: "conv_pw_13_relu" } });

  const table: string[] = ["| dataset | backbone | layer | pooling | metric | hist w | QE | P@k | mAP |", "|---|---|---|---|---|---|---|---|---|"];
  const out: Record<string, unknown> = {};
  let histRowsDone = false;
  for (const b of backbones) {
    // histogram fused in the raw vectors so every weight can be tried without extracting again
    const pipe = await openPipeline({ ...b.config, histogramWeight: 1, pooling: "gap" });
    const cnnDim = pipe.backbone.outputShape[pipe.backbone.outputShape.length - 1];
    const extract = async (items: ImageItem[]) => (await pipe.extract(items)).features;
    // choose on the tuning half only
    const tuneRaw = await extract(tune);
    const keptTune = tune.filter((i) => tuneRaw.ids.includes(i.name));
    let best = { w: 0, qe: 0, map: -1 };
    for (const w of HIST_WEIGHTS)
      for (const qe of EXPANSIONS) {
        const r = score(tuneRaw, cnnDim, keptTune, w, qe, 10);
        if (r.map > best.map) best = { w, qe, map: r.map };
      }
    out[`${b.name}: chosen on food7 first half`] = { histogramWeight: best.w, queryExpansion: best.qe, tune_mAP: round(best.map) };
    for (const d of reports) {
      const raw = await extract(d.items);
      const kept = d.items.filter((i) => raw.ids.includes(i.name));
      if (!histRowsDone) {
        const labels = new Map(kept.map((i) => [i.name, i.label!]));
        const h = evaluate(rankAll(selectColumns(raw, cnnDim, raw.dim), { metric: "cosine", k: kept.length - 1, labels }), { k: [d.k] });
        table.push(`| ${d.name} | colour histogram (floor) | - | - | cosine | - | 0 | ${h.precisionAtK[d.k].toFixed(3)} | ${h.mAP.toFixed(3)} |`);
        out[`${d.name}: histogram`] = { p_at_k: round(h.precisionAtK[d.k]), mAP: round(h.mAP), k: d.k };
      }
      for (const [label, w, qe] of [["plain", 0, 0], ["chosen", best.w, best.qe]] as const) {
        const r = score(raw, cnnDim, kept, w, qe, d.k);
        table.push(`| ${d.name} | ${b.name} (${label}) | ${pipe.backbone.layer} | gap | cosine | ${w} | ${qe} | ${r.p.toFixed(3)} | ${r.map.toFixed(3)} |`);
        out[`${d.name}: ${b.name} ${label}`] = { p_at_k: round(r.p), mAP: round(r.map), k: d.k };
      }
    }
    histRowsDone = true;
    pipe.dispose();
  }
  process.stdout.write(`\n${table.join("\n")}\n`);
  return out;
}

const round = (x: number) => Math.round(x * 1000) / 1000;
