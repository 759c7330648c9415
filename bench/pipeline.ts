/** Bench section "pipeline": the main job on the bundled sample, and the colour-histogram floor on the same images. */
import * as os from "node:os";
import * as path from "node:path";
import { runDemo } from "../lib/pipeline/demo";
import { scanFolder } from "../lib/prepare/scan";
import { histogramFeatures } from "../lib/extract/histogram";
import { exactSearch } from "../lib/rank";
import { evaluate } from "../lib/evaluate";

export async function runPipelineBench(): Promise<Record<string, unknown>> {
  const folder = path.resolve(__dirname, "../data/sample");
  const out = path.join(os.tmpdir(), `cbir-bench-${process.pid}`);
  const { report } = await runDemo(folder, { outDir: out, tsne: false });
  // floor: square-rooted RGB histogram, cosine, leave-one-out
  const items = scanFolder(folder).items;
  const { features: hist } = await histogramFeatures(items);
  const labels = new Map(items.map((i) => [i.name, i.label as string]));
  const ev = evaluate(await exactSearch(hist, "loo", { kernel: "js", metric: "cosine", k: items.length - 1, labels }), { k: [5] });
  const p5 = report.precisionAtK ?? 0;
  return {
    backbone: report.settings.backbone,
    layer: report.settings.layer,
    images: report.images,
    images_per_s: report.timings.images_per_s,
    extract_s: report.timings.extract_s,
    p_at_5: p5,
    mAP: report.mAP,
    histogram_p_at_5: ev.precisionAtK[5],
    histogram_mAP: ev.mAP,
    ratio_vs_histogram: ev.precisionAtK[5] > 0 ? p5 / ev.precisionAtK[5] : null,
  };
}
