/**
 * Real features shared by the bench sections "search" (HNSW and encodings) and "lance": the default model's
 * vectors (no colour histogram, no whitening) of data/openclipart (`npm run data:openclipart`) and
 * ../shared/data/malaysian_food7, whichever are present. Extracted once per bench process and per `max`,
 * kept in memory only (not cached on disk).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DEFAULT_CONFIG } from "../lib/config";
import { computeFeatures } from "../lib/pipeline/features";
import { scanFolder } from "../lib/prepare/scan";
import type { FeatureMatrix, ImageItem } from "../lib/types";

export interface RealFeatures {
  features: FeatureMatrix;
  /** Which folders the images came from. */
  sources: string[];
  /** Images in those folders; more than features.ids.length when `max` picked some of them. */
  available: number;
  /** The model that made them (the default). */
  model: string;
  extractS: number;
}

const once = new Map<number, Promise<RealFeatures | undefined>>();

/**
 * The features, or undefined when neither folder is present. `max` extracts only that many images, spread
 * evenly over the two folders' sorted lists (both sources stay represented), for a quick run.
 */
export function realFeatures(opts: { max?: number } = {}): Promise<RealFeatures | undefined> {
  const max = opts.max ?? Infinity;
  let p = once.get(max);
  if (!p) {
    p = extract(max);
    once.set(max, p);
  }
  return p;
}

async function extract(max: number): Promise<RealFeatures | undefined> {
  const root = path.resolve(__dirname, "..");
  const clipart = path.join(root, "data/openclipart");
  const food7 = path.resolve(root, "../shared/data/malaysian_food7");
  const items: ImageItem[] = [];
  const sources: string[] = [];
  if (fs.existsSync(clipart)) {
    items.push(...scanFolder(clipart).items);
    sources.push("data/openclipart");
  }
  if (fs.existsSync(food7)) {
    items.push(...scanFolder(food7).items.map((it) => ({ ...it, name: `food7/${it.name}` })));
    sources.push("../shared/data/malaysian_food7");
  }
  if (!items.length) return undefined;
  const picked = items.length <= max ? items : Array.from({ length: max }, (_, i) => items[Math.floor((i * items.length) / max)]);
  const t0 = performance.now();
  const { features } = await computeFeatures(picked, { histogramWeight: 0, whiten: 0 });
  return { features, sources, available: items.length, model: DEFAULT_CONFIG.model, extractS: (performance.now() - t0) / 1000 };
}
