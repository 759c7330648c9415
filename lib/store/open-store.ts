/**
 * One entry point for the vectors of either store, chosen by the `--index` value (lib/store/store-uri.ts):
 * a folder index (lib/store/index-store.ts) or a Lance table (lib/store/lance-store.ts). Used where only
 * the stored vectors are needed: `cbir eval --index`, .npy export.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { FeatureMatrix, ImageItem } from "../types";
import { openIndex } from "./index-store";
import { defaultIndexDir, MANIFEST_FILE } from "./manifest";
import { LanceStore } from "./lance-store";
import { isLanceUri } from "./store-uri";

export { isLanceUri };

export interface StoredVectors {
  uri: string;
  kind: "folder" | "lance";
  items: ImageItem[];
  labels: Map<string, string>;
  raw: FeatureMatrix;
  /** The vectors ranked: after the stored post-processing. */
  features: FeatureMatrix;
  config?: Record<string, string | number | boolean>;
  postSteps: string[];
  prepareQueries(q: FeatureMatrix): FeatureMatrix;
}

/**
 * The index folder a folder argument names: the folder itself, or the `<folder>/.cbir-index` that
 * `cbir index <folder>` wrote when only that one holds a manifest (so an error names what was typed).
 */
export function indexDirOf(folder: string): string {
  if (fs.existsSync(path.join(folder, MANIFEST_FILE))) return folder;
  return fs.existsSync(path.join(defaultIndexDir(folder), MANIFEST_FILE)) ? defaultIndexDir(folder) : folder;
}

export async function openStoredVectors(uri: string): Promise<StoredVectors> {
  if (!isLanceUri(uri)) {
    const ix = openIndex(indexDirOf(uri));
    return { uri, kind: "folder", items: ix.items, labels: ix.labels, raw: ix.raw, features: ix.features, config: ix.manifest.config, postSteps: ix.manifest.post?.steps ?? [], prepareQueries: (q) => ix.prepareQueries(q) };
  }
  const store = await LanceStore.open(uri);
  try {
    if (!store.searchable) await store.search({ ids: [], dim: store.meta.dim, data: new Float32Array(0), fingerprint: store.meta.fingerprint }); // throws the "optimize first" error
    const all = await store.readAll();
    const post = store.meta.post;
    return { uri, kind: "lance", ...all, config: store.meta.config, postSteps: post?.steps ?? [], prepareQueries: (q) => store.prepareQueries(q) };
  } finally {
    store.close();
  }
}
