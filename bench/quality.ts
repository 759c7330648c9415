/**
 * Bench section "quality": retrieval quality, honestly. Every setting (pooling, whitening, histogram weight,
 * query expansion) is chosen by mAP on the first half of each class of food7 (by sorted file name) and then
 * reported, unchanged, on food7's second half, the steakhouse set and the medical set. Leave-one-out,
 * cosine; the square-rooted colour histogram is the floor every CNN pipeline must beat. The settings chosen
 * for the bundled backbone are checked against DEFAULT_CONFIG. Needs ../shared (skipped without it).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DEFAULT_CONFIG, resolveConfig, type PipelineConfig } from "../lib/config";
import { evaluate } from "../lib/evaluate/index";
import { scanFolder } from "../lib/prepare/scan";
import { rankAllFast } from "../lib/rank/index";
import { postprocess, selectColumns } from "../lib/reduce/index";
import { openPipeline, postSteps } from "../lib/store/pipeline";
import type { FeatureMatrix, ImageItem } from "../lib/types";

const SHARED = path.resolve(__dirname, "../../shared");
const POOLS = ["gap", "gem"] as const;
const WHITEN = [0, 32, 128];
const HIST_WEIGHTS = [0, 0.25, 0.5, 1];
/** [n, alpha]: off, then similarity-weighted expansion over n hits. */
const EXPANSIONS: [number, number][] = [[0, 1], ...[2, 5, 10].flatMap((n) => [[n, 1], [n, 3]] as [number, number][])];

interface Setting {
  pooling: (typeof POOLS)[number];
  whiten: number;
  hist: number;
  qe: number;
  alpha: number;
}

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

/** Final vectors for one setting: raw rows are [CNN | histogram]; hist weight 0 drops the histogram block. */
function finalVectors(raw: FeatureMatrix, cnnDim: number, st: Setting): FeatureMatrix {
  const c = resolveConfig({ histogramWeight: st.hist, whiten: st.whiten, center: true });
  const input = st.hist > 0 ? raw : selectColumns(raw, 0, cnnDim);
  return postprocess(input, postSteps(c, cnnDim)).features;
}

async function score(features: FeatureMatrix, items: ImageItem[], st: Setting, k: number) {
  const labels = new Map(items.map((i) => [i.name, i.label!]));
  const rankings = await rankAllFast(features, { metric: "cosine", k: Infinity, labels, queryExpansion: st.qe, queryExpansionAlpha: st.alpha });
  const ev = evaluate(rankings, { k: [k] });
  return { p: ev.precisionAtK[k], map: ev.mAP };
}

const label = (st: Setting) => `${st.pooling}, whiten ${st.whiten || "off"}, hist ${st.hist}, QE ${st.qe ? `${st.qe} (alpha ${st.alpha})` : "off"}`;

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

  const table: string[] = ["| dataset | backbone | layer | pooling | metric | whiten | hist w | QE (alpha) | P@k | mAP |", "|---|---|---|---|---|---|---|---|---|---|"];
  const out: Record<string, unknown> = {};
  let histRowsDone = false;
  for (const b of backbones) {
    // raw [CNN | histogram] rows per pooling and dataset, extracted once; every setting is post-processing
    const raw = new Map<string, { features: FeatureMatrix; items: ImageItem[] }>();
    let cnnDim = 0;
    let layer = "";
    for (const pooling of POOLS) {
      const pipe = await openPipeline({ ...b.config, pooling, histogramWeight: 1 });
      cnnDim = pipe.backbone.outputShape[pipe.backbone.outputShape.length - 1];
      layer = pipe.backbone.layer;
      for (const d of [{ name: "tune", items: tune }, ...reports]) {
        const f = (await pipe.extract(d.items)).features;
        raw.set(`${pooling}:${d.name}`, { features: f, items: d.items.filter((i) => f.ids.includes(i.name)) });
      }
      pipe.dispose();
    }
    // choose on the tuning half only
    let best: { st: Setting; map: number } | undefined;
    for (const pooling of POOLS)
      for (const whiten of WHITEN)
        for (const hist of HIST_WEIGHTS) {
          const r = raw.get(`${pooling}:tune`)!;
          const features = finalVectors(r.features, cnnDim, { pooling, whiten, hist, qe: 0, alpha: 1 });
          for (const [qe, alpha] of EXPANSIONS) {
            const st = { pooling, whiten, hist, qe, alpha };
            const { map } = await score(features, r.items, st, 10);
            if (!best || map > best.map) best = { st, map };
          }
        }
    const chosen = best!.st;
    const matchesDefault =
      b.config.model === DEFAULT_CONFIG.model
        ? chosen.pooling === DEFAULT_CONFIG.pooling && chosen.whiten === DEFAULT_CONFIG.whiten && chosen.hist === DEFAULT_CONFIG.histogramWeight && chosen.qe === DEFAULT_CONFIG.queryExpansion && chosen.alpha === 1
        : undefined;
    out[`${b.name}: chosen on food7 first half`] = { ...chosen, tune_mAP: round(best!.map), ...(matchesDefault === undefined ? {} : { matches_DEFAULT_CONFIG: matchesDefault }) };
    process.stdout.write(`${b.name}: chosen on food7's first half (mAP ${best!.map.toFixed(3)}): ${label(chosen)}${matchesDefault === false ? " -- differs from DEFAULT_CONFIG" : ""}\n`);
    const plain: Setting = { pooling: "gap", whiten: 0, hist: 0, qe: 0, alpha: 1 };
    for (const d of reports) {
      if (!histRowsDone) {
        const r = raw.get(`gap:${d.name}`)!;
        const labels = new Map(r.items.map((i) => [i.name, i.label!]));
        const h = evaluate(await rankAllFast(selectColumns(r.features, cnnDim, r.features.dim), { metric: "cosine", k: Infinity, labels }), { k: [d.k] });
        table.push(`| ${d.name} | colour histogram (floor) | - | - | cosine | - | - | - | ${h.precisionAtK[d.k].toFixed(3)} | ${h.mAP.toFixed(3)} |`);
        out[`${d.name}: histogram`] = { p_at_k: round(h.precisionAtK[d.k]), mAP: round(h.mAP), k: d.k };
      }
      for (const [which, st] of [["plain", plain], ["chosen", chosen]] as const) {
        const r = raw.get(`${st.pooling}:${d.name}`)!;
        const res = await score(finalVectors(r.features, cnnDim, st), r.items, st, d.k);
        table.push(`| ${d.name} | ${b.name} (${which}) | ${layer} | ${st.pooling} | cosine | ${st.whiten || "-"} | ${st.hist} | ${st.qe ? `${st.qe} (${st.alpha})` : "-"} | ${res.p.toFixed(3)} | ${res.map.toFixed(3)} |`);
        out[`${d.name}: ${b.name} ${which}`] = { p_at_k: round(res.p), mAP: round(res.map), k: d.k };
      }
    }
    histRowsDone = true;
  }
  process.stdout.write(`\n${table.join("\n")}\n`);
  return out;
}

const round = (x: number) => Math.round(x * 1000) / 1000;
