/**
 * Data helpers for learning on frozen features: labels as class codes, row subsets, and the split that keeps
 * test images out of training (first part of each class by sorted name for training, the rest for testing).
 */
import { CbirError, invalidOption } from "../errors";
import { applyCenter, fitCenter, l2normalize } from "../reduce/normalize";
import type { FeatureMatrix, ImageItem } from "../types";

/** Labels aligned with the rows of a matrix: an array (row order) or an id -> label map. */
export type LabelsInput = readonly string[] | ReadonlyMap<string, string>;

export interface ClassCodes {
  /** Class index of every row. */
  codes: Int32Array;
  /** Class names, sorted; codes index into this. */
  classes: string[];
}

/** Class codes of the rows of `m`; every row needs a label. */
export function classCodes(m: FeatureMatrix, labels: LabelsInput): ClassCodes {
  const get = (i: number): string | undefined => (isMap(labels) ? labels.get(m.ids[i]) : labels[i]);
  if (!isMap(labels) && labels.length !== m.ids.length) throw invalidOption("labels", `${m.ids.length} labels (one per row)`, `${labels.length} labels`);
  const names: string[] = [];
  for (let i = 0; i < m.ids.length; i++) {
    const l = get(i);
    if (l === undefined || l === "")
      throw new CbirError("E_BAD_OPTION", `image '${m.ids[i]}' has no class label; training needs one for every image.`, {
        fix: "give labels through sub-folders, name prefixes or labels.csv, or leave unlabelled images out of the training set.",
      });
    names.push(l);
  }
  const classes = [...new Set(names)].sort();
  const index = new Map(classes.map((c, i) => [c, i]));
  return { codes: Int32Array.from(names, (n) => index.get(n)!), classes };
}

function isMap(l: LabelsInput): l is ReadonlyMap<string, string> {
  return typeof (l as ReadonlyMap<string, string>).get === "function" && !Array.isArray(l);
}

/** A new matrix holding the given rows, in that order (same fingerprint: the vectors are unchanged). */
export function selectRows(m: FeatureMatrix, rows: readonly number[]): FeatureMatrix {
  const data = new Float32Array(rows.length * m.dim);
  rows.forEach((r, i) => {
    if (!(r >= 0 && r < m.ids.length)) throw invalidOption("row", `index in [0, ${m.ids.length})`, r);
    data.set(m.data.subarray(r * m.dim, (r + 1) * m.dim), i * m.dim);
  });
  return { ids: rows.map((r) => m.ids[r]), dim: m.dim, data, fingerprint: m.fingerprint };
}

/** Rows of `m` whose ids are in `ids`, in the order of `ids`. */
export function selectIds(m: FeatureMatrix, ids: readonly string[]): FeatureMatrix {
  const at = new Map(m.ids.map((id, i) => [id, i]));
  return selectRows(
    m,
    ids.map((id) => {
      const r = at.get(id);
      if (r === undefined) throw invalidOption("id", "an id of the feature matrix", id);
      return r;
    }),
  );
}

export interface TrainTestSplit {
  train: ImageItem[];
  test: ImageItem[];
}

/**
 * Per class, the first `trainFraction` of the images by sorted name go to training, the rest to testing,
 * so the split is reproducible and no test image is ever seen in training. Unlabelled images are left out.
 * @param trainFraction default 0.5; each class with 2+ images keeps at least one image on each side.
 */
export function splitByClass(items: readonly ImageItem[], trainFraction = 0.5): TrainTestSplit {
  if (!(trainFraction > 0 && trainFraction < 1)) throw invalidOption("trainFraction", "number in (0, 1)", trainFraction);
  const byClass = new Map<string, ImageItem[]>();
  for (const it of items) {
    if (!it.label) continue;
    if (!byClass.has(it.label)) byClass.set(it.label, []);
    byClass.get(it.label)!.push(it);
  }
  const train: ImageItem[] = [];
  const test: ImageItem[] = [];
  for (const label of [...byClass.keys()].sort()) {
    const list = byClass.get(label)!.slice().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const nTrain = list.length < 2 ? list.length : Math.min(list.length - 1, Math.max(1, Math.round(list.length * trainFraction)));
    train.push(...list.slice(0, nTrain));
    test.push(...list.slice(nTrain));
  }
  return { train, test };
}

/** id -> label map of items (what exactSearch and the trainers take). */
export function labelMap(items: readonly ImageItem[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const it of items) if (it.label) m.set(it.name, it.label);
  return m;
}

/** The first `perClass` images of each class by sorted name (0 = all), unlabelled images left out: a small, reproducible subset. */
export function subsetPerClass(items: readonly ImageItem[], perClass: number): ImageItem[] {
  if (!Number.isInteger(perClass) || perClass < 0) throw invalidOption("perClass", "integer >= 0", perClass);
  const byClass = new Map<string, ImageItem[]>();
  for (const it of items) if (it.label) (byClass.get(it.label) ?? byClass.set(it.label, []).get(it.label)!).push(it);
  const out: ImageItem[] = [];
  for (const label of [...byClass.keys()].sort()) {
    const list = byClass.get(label)!.slice().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    out.push(...(perClass ? list.slice(0, perClass) : list));
  }
  return out;
}

/**
 * Training and test rows of raw vectors, centred on the mean of the training rows only and L2-normalised
 * (the toolkit's default post-processing, without letting test images shape it). Both halves share the one
 * fitted state, hence one fingerprint, so a head trained on `train` accepts `test`.
 */
export function centerOnTraining(raw: FeatureMatrix, trainIds: readonly string[], testIds: readonly string[]): { train: FeatureMatrix; test: FeatureMatrix } {
  const state = fitCenter(selectIds(raw, trainIds));
  return { train: l2normalize(applyCenter(selectIds(raw, trainIds), state)), test: l2normalize(applyCenter(selectIds(raw, testIds), state)) };
}
