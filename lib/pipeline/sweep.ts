/**
 * One sweep of pipeline settings over a labelled set, used by notebook 06, `npm run bench -- quality` and
 * scripts/choose-default.ts: every row is a config, scored leave-one-out exactly as `cbir eval` scores it
 * (the pipeline's own post-processing, fitPost, and rankAndEvaluate with the row's search settings). The
 * only shortcut: the network runs once per cut layer, with its whole output kept, and each pooling is
 * computed from that output (the pooling the extraction would apply, to the same numbers).
 */
import { loadBackbone } from "../backbone/load";
import { resolveConfig, type PipelineConfig, type ResolvedConfig } from "../config";
import { evaluate, type Evaluation } from "../evaluate/evaluate";
import { rankAndEvaluate } from "../evaluate/ranked";
import { extractFeatures } from "../extract/features";
import { colorHistogram } from "../extract/histogram";
import { poolFeatures } from "../extract/pooling/index";
import { reporterOf, type Reporter } from "../report";
import type { FeatureMatrix, ImageItem } from "../types";
import { labelsOf } from "./evaluate-folder";
import { fitPost, HISTOGRAM_BINS, rawFingerprint, searchOptions } from "./pipeline";

/** The settings a sweep can vary (the model and runtime are the grid's `base`). */
export const SWEEP_FIELDS = ["layer", "pooling", "gemP", "center", "whiten", "histogramWeight", "metric", "queryExpansion", "vectors", "refine"] as const;
export type SweepField = (typeof SWEEP_FIELDS)[number];

export interface SweepGrid {
  /** Settings every row shares (default: DEFAULT_CONFIG's). */
  base?: Partial<PipelineConfig>;
  /** Values to try per setting: the rows are the product of these, in order (the last axis varies fastest). */
  axes?: { [F in SweepField]?: readonly PipelineConfig[F][] };
  /** Rows to add beyond the product, each over `base` (a setting tried at a few points only). */
  extra?: Partial<PipelineConfig>[];
}

export interface SweepRow {
  /** The row's config, every field set. */
  settings: Readonly<PipelineConfig>;
  /** Length of the ranked vectors. */
  dim: number;
  /** Leave-one-out over the whole set. */
  evaluation: Evaluation;
  /** The same rankings evaluated on each group of queries (SweepOptions.groups), by group name. */
  groups: Record<string, Evaluation>;
}

export interface SweepOptions {
  /** P@k cut-offs (default [1, 5, 10]). */
  k?: number[];
  /** Named sets of query names (e.g. tuning / held-out halves): each is evaluated apart, over the full rankings. */
  groups?: Record<string, ReadonlySet<string>>;
  reporter?: Reporter;
  /** Called as each row is scored (for progress lines). */
  onRow?: (row: SweepRow, index: number, total: number) => void;
}

/** The rows of a grid, in order, each resolved once; rows that set the same pipeline twice are kept once. */
export function sweepConfigs(grid: SweepGrid): ResolvedConfig[] {
  const partials: Partial<PipelineConfig>[] = [];
  const axes = Object.entries(grid.axes ?? {}).filter(([, values]) => values !== undefined) as [SweepField, readonly unknown[]][];
  if (axes.length || !grid.extra?.length) {
    const product = (i: number, acc: Partial<PipelineConfig>): void => {
      if (i === axes.length) return void partials.push({ ...grid.base, ...acc });
      for (const v of axes[i][1]) product(i + 1, { ...acc, [axes[i][0]]: v });
    };
    product(0, {});
  }
  for (const e of grid.extra ?? []) partials.push({ ...grid.base, ...e });
  const seen = new Set<string>();
  const rows: ResolvedConfig[] = [];
  for (const p of partials) {
    const c = resolveConfig(p);
    // the GeM exponent is no setting of the other poolings: gap with p = 2 and p = 3 is one row
    const key = JSON.stringify({ ...c.settings, gemP: c.features.pooling === "gem" ? c.features.gemP : 0 });
    if (!seen.has(key)) (seen.add(key), rows.push(c));
  }
  return rows;
}

/** Scores every row of `grid` on `items` (labelled); one network pass per model, layer and runtime. */
export async function sweep(items: ImageItem[], grid: SweepGrid, opts: SweepOptions = {}): Promise<SweepRow[]> {
  const rows = sweepConfigs(grid);
  const ks = opts.k ?? [1, 5, 10];
  const rep = reporterOf(opts.reporter);
  const byLayer = new Map<string, ResolvedConfig[]>();
  for (const c of rows) {
    const f = c.features;
    const key = JSON.stringify([f.model, f.layer, f.runtime, f.batchSize]);
    byLayer.set(key, [...(byLayer.get(key) ?? []), c]);
  }
  const out: SweepRow[] = [];
  for (const group of byLayer.values()) {
    const f = group[0].features;
    const backbone = await loadBackbone(f.model, { layer: f.layer || undefined, runtime: f.runtime, reporter: opts.reporter });
    try {
      const histogram = group.some((c) => c.features.histogram);
      const ex = await extractFeatures(backbone, items, {
        pooling: "flatten",
        batchSize: f.batchSize || undefined,
        histogram: histogram ? (rgb) => colorHistogram(rgb, HISTOGRAM_BINS) : undefined,
        reporter: opts.reporter,
      });
      const kept = new Set(ex.features.ids);
      const labels = labelsOf(items.filter((it) => kept.has(it.name)), "the sweep's items");
      const n = ex.features.ids.length;
      const pooledBy = new Map<string, Float32Array>();
      // rows that differ only in how they rank share one fit (a whitening fit takes seconds)
      const fittedBy = new Map<string, FeatureMatrix>();
      for (const c of group) {
        const { pooling, gemP } = c.features;
        const poolKey = pooling === "gem" ? `gem${gemP}` : pooling;
        let pooled = pooledBy.get(poolKey);
        if (!pooled) pooledBy.set(poolKey, (pooled = poolFeatures(ex.features.data, n, backbone.outputShape, pooling, { gemP })));
        const cnnDim = pooled.length / Math.max(n, 1);
        const fitKey = JSON.stringify([poolKey, c.post]);
        let features = fittedBy.get(fitKey);
        if (!features) {
          const raw = rawMatrix(ex.features.ids, pooled, cnnDim, c.features.histogram ? ex.histograms! : undefined, rawFingerprint(backbone, c.features));
          fittedBy.set(fitKey, (features = fitPost(raw, c, cnnDim, opts.reporter).features));
        }
        const groups = opts.groups ?? {};
        const full = Object.keys(groups).length > 0;
        const ranked = await rankAndEvaluate(features, { ...searchOptions(c.search), k: ks, labels, keep: full ? n - 1 : undefined, reporter: opts.reporter });
        const row: SweepRow = {
          settings: { ...c.settings, layer: backbone.layer },
          dim: features.dim,
          evaluation: ranked.evaluation!,
          groups: Object.fromEntries(Object.entries(groups).map(([name, ids]) => [name, evaluate(ranked.rankings.filter((r) => ids.has(r.query)), { k: ks, dbLabels: labels })])),
        };
        out.push(row);
        opts.onRow?.(row, out.length - 1, rows.length);
      }
    } finally {
      backbone.dispose();
    }
    rep.log(`sweep: ${f.model} @ ${f.layer || "(default layer)"} done (${out.length} of ${rows.length} rows)`);
  }
  return out;
}

/** [pooled CNN | histogram] rows, as Pipeline.extract makes them. */
function rawMatrix(ids: string[], pooled: Float32Array, cnnDim: number, histograms: Float32Array[] | undefined, fingerprint: FeatureMatrix["fingerprint"]): FeatureMatrix {
  if (!histograms) return { ids, dim: cnnDim, data: pooled, fingerprint };
  const hd = HISTOGRAM_BINS ** 3;
  const dim = cnnDim + hd;
  const data = new Float32Array(ids.length * dim);
  for (let i = 0; i < ids.length; i++) {
    data.set(pooled.subarray(i * cnnDim, (i + 1) * cnnDim), i * dim);
    data.set(histograms[i], i * dim + cnnDim);
  }
  return { ids, dim, data, fingerprint };
}
