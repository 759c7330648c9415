/**
 * The main job (`cbir demo`, `npm start`): read a database folder, extract features with the default
 * offline pipeline, rank the top-k most similar images of every image (self excluded), evaluate with the
 * labels, and write output_new/rec/<name>_rec.png, output_new/tsne.png and output_new/report.json.
 */
import * as path from "node:path";
import { resolveConfig, type ConfigInput, type PipelineConfig } from "../config";
import type { Evaluation } from "../evaluate/index";
import { rankAndEvaluate } from "../evaluate/ranked";
import { checkOutputDir, writeFileAtomic } from "../fsutil";
import type { Fingerprint } from "../fingerprint";
import { tsne } from "../embed/index";
import { renderRecommendations, renderTsneScatter, renderTsneThumbnails, writePng } from "../plot/index";
import { ThumbnailCache } from "../plot/thumbs";
import { scanFolder, type ScanOptions } from "../prepare/scan";
import { reporterOf, type Reporter } from "../report";
import type { ImageItem, Ranking, SkippedFile } from "../types";
import { computeFeatures } from "./features";
import { searchOptions } from "./pipeline";

export interface DemoReport {
  database: string;
  images: number;
  settings: PipelineConfig & { backbone: string; layer: string; inputSize: [number, number]; featureDim: number; cnnDim: number };
  fingerprint: Fingerprint;
  skipped: SkippedFile[];
  /** Labels were found for every image: P@k and mAP are meaningful. */
  labelled: boolean;
  precisionAtK: number | null;
  mAP: number | null;
  perClass: Record<string, number> | null;
  timings: Record<string, number>;
  outputs: { recommendations: string[]; tsne: string | null; report: string };
}

/** Thumbnails drawn on tsne.png at most (an even sample of larger folders; tsne_classes.png shows every image). */
const TSNE_MAX_THUMBNAILS = 2000;

export interface DemoResult {
  report: DemoReport;
  items: ImageItem[];
  rankings: Ranking[];
  evaluation: Evaluation | null;
  tsneCoords: Float32Array | null;
}

export async function runDemo(folder = "data/sample", config: ConfigInput = {}, reporter?: Reporter, scanOptions: ScanOptions = {}): Promise<DemoResult> {
  const c = resolveConfig(config);
  const { post, search, output } = c;
  const rep = reporterOf(reporter);
  const t0 = performance.now();
  checkOutputDir(output.outDir); // before the long extraction: a file, `/` or a read-only folder fails at once
  rep.log(`Reading images from '${folder}' directory...`);
  const scan = scanFolder(folder, scanOptions);
  for (const s of scan.skipped) rep.warn(`skipped ${s.reason}`, s.path);

  const pf = await computeFeatures(scan.items, c, { reporter });
  const n = pf.items.length;
  const [h, w] = pf.backbone.inputSize;
  rep.log(`imgs.shape = (${n}, ${h}, ${w}, 3)`);
  rep.log(`X_features.shape = (${n}, ${pf.cnn.dim})`);
  if (post.whiten > 0) rep.log(`CNN vectors PCA-whitened to at most ${post.whiten} dimensions, learned on these images`);
  if (post.histogramWeight > 0) rep.log(`fused with a colour histogram (weight ${post.histogramWeight}): (${n}, ${pf.features.dim})`);
  if (search.queryExpansion > 0) rep.log(`query expansion over the top ${search.queryExpansion} hits, weighted by similarity, database rows expanded the same way`);
  if (search.vectors !== "f32") rep.log(`ranked on ${search.vectors} codes${search.refine > 1 ? `, the best ${search.refine} x k re-scored with float32 vectors` : ""}`);
  const skipped = [...scan.skipped, ...pf.skipped];

  const labels = new Map(pf.items.filter((it) => it.label !== undefined).map((it) => [it.name, it.label as string]));
  const labelled = labels.size === n && new Set(labels.values()).size > 1;
  const tRank = performance.now();
  // top k per image, and AP over each full ranking as the score blocks stream by: memory O(n k), not n x n
  const { rankings, evaluation } = await rankAndEvaluate(pf.features, { ...searchOptions(search), k: [search.k], labels, evaluate: labelled, reporter });
  const rankSeconds = (performance.now() - tRank) / 1000;

  const outDir = path.resolve(output.outDir);
  // every image is decoded once for the figures; each later figure that shows it reads the cached thumbnail
  const thumbs = new ThumbnailCache(path.join(outDir, "thumbs"));
  const tPlot = performance.now();
  const recFiles = await renderRecommendations(rankings, pf.items, path.join(outDir, "rec"), { layout: "grid", metric: search.metric, loadThumb: thumbs.load, reporter, announce: true });
  const plotSeconds = (performance.now() - tPlot) / 1000;

  let tsneFile: string | null = null;
  let coords: Float32Array | null = null;
  const tTsne = performance.now();
  if (output.tsne && n >= 4) {
    tsneFile = path.join(outDir, "tsne.png");
    rep.log(`Plotting tSNE to ${path.relative(process.cwd(), tsneFile) || tsneFile}...`);
    const t = await tsne(pf.features.data, n, pf.features.dim, { seed: output.seed, reporter });
    coords = t.coords;
    await writePng(await renderTsneThumbnails(pf.items, coords, { loadThumb: thumbs.load, maxThumbnails: TSNE_MAX_THUMBNAILS }), tsneFile);
    if (labelled) await writePng(await renderTsneScatter(coords, pf.items.map((it) => it.label as string)), path.join(outDir, "tsne_classes.png"));
  }
  const tsneSeconds = (performance.now() - tTsne) / 1000;

  const reportFile = path.join(outDir, "report.json");
  const report: DemoReport = {
    database: folder,
    images: n,
    settings: {
      ...c.settings,
      backbone: pf.backbone.id,
      layer: pf.backbone.layer,
      inputSize: pf.backbone.inputSize,
      featureDim: pf.features.dim,
      cnnDim: pf.cnn.dim,
    },
    fingerprint: pf.features.fingerprint,
    skipped,
    labelled,
    precisionAtK: evaluation ? evaluation.precisionAtK[search.k] : null,
    mAP: evaluation ? evaluation.mAP : null,
    perClass: evaluation ? Object.fromEntries(Object.entries(evaluation.perClass).map(([k, v]) => [k, v.precisionAtK[search.k]])) : null,
    timings: {
      load_s: round(pf.seconds.load),
      extract_s: round(pf.seconds.total),
      decode_s: round(pf.seconds.decode),
      infer_s: round(pf.seconds.infer),
      images_per_s: round(n / Math.max(1e-9, pf.seconds.total)),
      rank_s: round(rankSeconds),
      plot_s: round(plotSeconds),
      tsne_s: round(tsneSeconds),
      total_s: round((performance.now() - t0) / 1000),
    },
    outputs: { recommendations: recFiles.map((f) => path.relative(process.cwd(), f)), tsne: tsneFile && path.relative(process.cwd(), tsneFile), report: path.relative(process.cwd(), reportFile) },
  };
  await writeFileAtomic(reportFile, JSON.stringify(report, null, 2) + "\n");
  if (evaluation) rep.log(`P@${search.k} = ${evaluation.precisionAtK[search.k].toFixed(3)}, mAP = ${evaluation.mAP.toFixed(3)} (${n} queries, leave-one-out)`);
  rep.log(`Wrote ${recFiles.length} recommendation figures, ${tsneFile ? "tsne.png and " : ""}report.json to ${path.relative(process.cwd(), outDir) || outDir}/`);
  return { report, items: pf.items, rankings, evaluation, tsneCoords: coords };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
