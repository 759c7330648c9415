/** Bench section "pipeline": the main job on the bundled sample, and the colour-histogram floor on the same images. */
import * as os from "node:os";
import * as path from "node:path";
import { runDemo } from "../lib/pipeline/demo";
import { scanFolder } from "../lib/prepare/scan";
import { decodeImage } from "../lib/prepare/decode";
import { colorHistogram } from "../lib/extract/histogram";
import { makeFingerprint } from "../lib/fingerprint";
import { rankAll } from "../lib/rank";
import { evaluate } from "../lib/evaluate";

export async function runPipelineBench(): Promise<Record<string, unknown>> {
  const folder = path.resolve(__dirname, "../data/sample");
  const out = path.join(os.tmpdir(), `cbir-bench-${process.pid}`);
  const { report } = await runDemo(folder, { outDir: out, tsne: false });
  // floor: square-rooted RGB histogram, cosine, leave-one-out
  const items = scanFolder(folder).items;
  const rows = await Promise.all(items.map(async (it) => colorHistogram((await decodeImage(it.path, { size: [224, 224] })).data, 8)));
  const data = new Float32Array(rows.length * 512);
  rows.forEach((r, i) => data.set(r, i * 512));
  const hist = { ids: items.map((i) => i.name), dim: 512, data, fingerprint: makeFingerprint({ backbone: "hist:rgb8-sqrt" }) };
  const labels = new Map(items.map((i) => [i.name, i.label as string]));
  const ev = evaluate(rankAll(hist, { metric: "cosine", k: items.length - 1, labels }), { k: [5] });
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
