/**
 * Bench section "scale" (`npm run bench -- scale`; not part of the default run, it takes about 10 minutes
 * on 2 cores): peak memory and seconds of the all-pairs ranking and evaluation that `cbir eval` and the
 * demo run (rankAndEvaluate: leave-one-out, cosine, query expansion 10 with database-side augmentation,
 * top 10 kept, AP over every full ranking), on seeded clustered Gaussian vectors of the default pipeline's
 * dimension (1,280: 768 GeM-pooled CNN values + 512 histogram bins), 50 classes, no decoding. Each size runs in
 * a forked child so its peak RSS (process.resourceUsage().maxRSS) is its own; the growth ratios show
 * memory O(n k) (linear in n) against time O(n^2). CBIR_SCALE_SIZES=5000,20000 picks other sizes.
 */
import { fork } from "node:child_process";
import { rankAndEvaluate } from "../lib/evaluate/ranked";
import { makeFingerprint } from "../lib/fingerprint";
import { gaussian, seededRandom } from "../lib/random";
import type { FeatureMatrix } from "../lib/types";

const DIM = 1280;
const CLASSES = 50;
/** Within-class spread relative to the class centres: same-class cosine about 0.1, others about 0. */
const SPREAD = 3;
const DEFAULT_SIZES = [5000, 20000, 100000];

interface SizeFigures {
  n: number;
  seconds: number;
  rss_before_mb: number;
  peak_rss_mb: number;
  kernel_threads: number;
  mAP: number;
  p_at_10: number;
}

/** n clustered rows: class c has a N(0, I) centre, each row is centre + SPREAD x N(0, I). */
export function clusteredVectors(n: number, d: number, classes: number, seed: number): { m: FeatureMatrix; labels: Map<string, string> } {
  const g = gaussian(seededRandom(seed));
  const centres = Float32Array.from({ length: classes * d }, () => g());
  const data = new Float32Array(n * d);
  const ids: string[] = new Array(n);
  const labels = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    for (let k = 0; k < d; k++) data[i * d + k] = centres[c * d + k] + SPREAD * g();
    ids[i] = `v${i}`;
    labels.set(ids[i], `class${c}`);
  }
  return { m: { ids, dim: d, data, fingerprint: makeFingerprint({ backbone: "bench-scale" }) }, labels };
}

const mb = (kb: number) => Math.round(kb / 1024);

async function child(n: number): Promise<SizeFigures> {
  const { m, labels } = clusteredVectors(n, DIM, CLASSES, 18);
  const before = process.resourceUsage().maxRSS;
  const threads = Number(process.env.CBIR_SCALE_THREADS ?? 1);
  const t0 = performance.now();
  const { evaluation } = await rankAndEvaluate(m, { k: [10], labels, queryExpansion: 10, threads });
  const seconds = (performance.now() - t0) / 1000;
  return {
    n,
    seconds: Math.round(seconds * 10) / 10,
    rss_before_mb: mb(before),
    peak_rss_mb: mb(process.resourceUsage().maxRSS),
    kernel_threads: threads,
    mAP: Math.round(evaluation!.mAP * 1e4) / 1e4,
    p_at_10: Math.round(evaluation!.precisionAtK[10] * 1e4) / 1e4,
  };
}

function runChild(n: number): Promise<SizeFigures> {
  return new Promise((resolve, reject) => {
    const p = fork(__filename, [], { execArgv: ["--import", "tsx"], env: { ...process.env, CBIR_SCALE_CHILD: String(n) } });
    let got: SizeFigures | undefined;
    p.on("message", (m) => (got = m as SizeFigures));
    p.on("error", reject);
    p.on("exit", (code) => (got ? resolve(got) : reject(new Error(`scale child for n = ${n} exited with ${code}`))));
  });
}

export async function runScaleBench(): Promise<Record<string, unknown>> {
  const sizes = process.env.CBIR_SCALE_SIZES ? process.env.CBIR_SCALE_SIZES.split(",").map(Number) : DEFAULT_SIZES;
  const out: Record<string, unknown> = { dim: DIM, classes: CLASSES, setting: "leave-one-out, cosine, QE 10 + DBA, top 10, AP over full rankings" };
  const bySize = new Map<number, SizeFigures>();
  for (const n of sizes) {
    const f = await runChild(n);
    bySize.set(n, f);
    out[`n${n}`] = f;
  }
  const ratio = (a: number, b: number) => {
    const fa = bySize.get(a);
    const fb = bySize.get(b);
    if (!fa || !fb) return;
    out[`growth_${a / 1000}k_over_${b / 1000}k`] = {
      n: a / b,
      seconds: Math.round((fa.seconds / fb.seconds) * 100) / 100,
      peak_rss_above_base: Math.round(((fa.peak_rss_mb - fa.rss_before_mb) / Math.max(1, fb.peak_rss_mb - fb.rss_before_mb)) * 100) / 100,
    };
  };
  ratio(20000, 5000);
  ratio(100000, 20000);
  return out;
}

if (process.env.CBIR_SCALE_CHILD) {
  child(Number(process.env.CBIR_SCALE_CHILD)).then(
    (f) => process.send!(f, () => process.exit(0)),
    (e) => {
      process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
      process.exit(1);
    },
  );
}
