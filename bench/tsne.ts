/**
 * Bench section "tsne": our Barnes-Hut t-SNE (tsne, default thread count) against scikit-learn's
 * TSNE on the same input, perplexity 30, 1,000 iterations, PCA init, learning rate "auto" on both sides.
 * The input is 5,000 x 1,280 features of data/openclipart (see benchInput), else 5,000 x 1,280 seeded
 * Gaussian clusters standing in for image features. Extraction is not timed.
 * Wall time covers the whole fit (PCA, neighbours, affinities, optimisation) on both sides; Python's
 * start-up and imports are not counted. CPU seconds are reported beside wall seconds because the machine
 * is shared: both sides use threads (scikit-learn's gradient OpenMP, ours worker_threads), so the load
 * average at the start is recorded too. scikit-learn runs in a child process (`/usr/bin/python3` with
 * Debian's python3-sklearn); when it is missing the ratio is omitted.
 * Run alone: `node --import tsx bench/tsne.ts`.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { tsne } from "../lib/embed/tsne";
import { trustworthiness } from "../lib/embed/tsne-quality";
import { gaussian, seededRandom } from "../lib/random";
import { tsneThreads } from "../lib/embed/tsne-pool";
import { computeFeatures } from "../lib/pipeline/features";
import { scanFolder } from "../lib/prepare/scan";

const N = 5000;
const DIM = 1280;
const CLUSTERS = 10;
const PERPLEXITY = 30;
const ITERATIONS = 1000;
const PYTHON = "/usr/bin/python3";

/** Seeded Gaussian clusters: CLUSTERS centres, unit noise, ReLU-like non-negative values as CNN features. */
export function benchData(n = N, dim = DIM, clusters = CLUSTERS, seed = 7): Float32Array {
  const g = gaussian(seededRandom(seed));
  const centres = Array.from({ length: clusters }, () => Float64Array.from({ length: dim }, () => Math.abs(g()) * 0.6));
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = centres[i % clusters];
    for (let t = 0; t < dim; t++) data[i * dim + t] = Math.max(0, c[t] + 0.5 * g());
  }
  return data;
}

interface BenchInput {
  data: Float32Array;
  n: number;
  dim: number;
  about: string;
}

/**
 * Features of data/openclipart (the input): the first 5,000 images by path, through the default
 * backbone cut at out_relu (1,280 values after global average pooling), centred and L2-normalised.
 * Without the folder (`npm run data:openclipart` builds it) the seeded Gaussian clusters stand in.
 */
async function benchInput(): Promise<BenchInput> {
  const dir = path.join(__dirname, "..", "data", "openclipart");
  if (fs.existsSync(dir)) {
    // a few spare images stand in for the ones that fail to decode
    const items = scanFolder(dir).items.sort((a, b) => (a.path < b.path ? -1 : 1)).slice(0, N + 100);
    if (items.length >= 100) {
      const pf = await computeFeatures(items, { layer: "out_relu", pooling: "gap", histogramWeight: 0, whiten: 0 });
      const n = Math.min(N, pf.features.ids.length);
      const dim = pf.features.dim;
      return { data: pf.features.data.slice(0, n * dim), n, dim, about: `${n} x ${dim} features of data/openclipart (${pf.backbone.id} @ ${pf.backbone.layer}, gap, centred, L2)` };
    }
  }
  return { data: benchData(), n: N, dim: DIM, about: `${N} x ${DIM} seeded Gaussian clusters (${CLUSTERS})` };
}

const SKLEARN_SCRIPT = `
import json, sys, time
import numpy as np
from sklearn.manifold import TSNE
import sklearn
n, dim, perplexity, iters = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
X = np.fromfile(sys.argv[1], dtype=np.float32).reshape(n, dim)
t = time.perf_counter()
c = time.process_time()
model = TSNE(n_components=2, perplexity=perplexity, n_iter=iters, init="pca", learning_rate="auto", random_state=0, method="barnes_hut", angle=0.5)
Y = model.fit_transform(X)
seconds = time.perf_counter() - t
cpu = time.process_time() - c
Y.astype(np.float32).tofile(sys.argv[1] + ".out")
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "kl": float(model.kl_divergence_), "n_iter": int(model.n_iter_), "version": sklearn.__version__}))
`;

interface SklearnRun {
  seconds: number;
  /** CPU time of all its threads (scikit-learn's Barnes-Hut gradient uses OpenMP). */
  cpu_seconds: number;
  kl: number;
  n_iter: number;
  version: string;
  coords: Float32Array;
}

function runSklearn(data: Float32Array, n: number, dim: number): SklearnRun | string {
  const probe = spawnSync(PYTHON, ["-c", "import sklearn"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) return "not installed (apt-get install -y python3-sklearn)";
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-tsne-bench-"));
  const file = path.join(dir, "x.f32");
  try {
    fs.writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    const r = spawnSync(PYTHON, ["-c", SKLEARN_SCRIPT, file, String(n), String(dim), String(PERPLEXITY), String(ITERATIONS)], {
      encoding: "utf8",
      maxBuffer: 16 * 1024 * 1024,
    });
    if (r.status !== 0) return `failed: ${(r.stderr || String(r.error)).trim().split("\n").slice(-1)[0]}`;
    const out = JSON.parse(r.stdout.trim().split("\n").slice(-1)[0]) as Omit<SklearnRun, "coords">;
    const raw = fs.readFileSync(file + ".out");
    return { ...out, coords: new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const round = (v: number, d = 3) => Math.round(v * 10 ** d) / 10 ** d;

/** Trustworthiness on a fixed subsample (the full O(n^2 log n) measure would dominate the bench). */
function sampledTrust(data: Float32Array, dim: number, coords: Float32Array, every: number): number {
  const idx: number[] = [];
  for (let i = 0; i < coords.length / 2; i += every) idx.push(i);
  const sub = new Float32Array(idx.length * dim);
  const subY = new Float32Array(idx.length * 2);
  idx.forEach((i, r) => {
    sub.set(data.subarray(i * dim, (i + 1) * dim), r * dim);
    subY[2 * r] = coords[2 * i];
    subY[2 * r + 1] = coords[2 * i + 1];
  });
  return trustworthiness(sub, idx.length, dim, subY, 10);
}

export async function runTsneBench(): Promise<Record<string, unknown>> {
  const { data, n, dim, about } = await benchInput();
  const loadavgStart = os.loadavg().map((v) => round(v, 2));
  const threads = tsneThreads();
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const ours = await tsne(data, n, dim, { method: "barnes-hut", perplexity: PERPLEXITY, iterations: ITERATIONS, init: "pca", seed: 0, threads });
  const oursS = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const oursCpuS = (cpu.user + cpu.system) / 1e6;
  const result: Record<string, unknown> = {
    input: `${about}, perplexity ${PERPLEXITY}, ${ITERATIONS} iterations, PCA init`,
    loadavg_start: loadavgStart,
    ours_threads: threads,
    ours_s: round(oursS, 2),
    ours_cpu_s: round(oursCpuS, 2),
    kl_ours: round(ours.kl, 4),
    trust_ours: round(sampledTrust(data, dim, ours.coords, 10), 4),
  };
  const sk = runSklearn(data, n, dim);
  if (typeof sk === "string") {
    result.sklearn = sk;
    return result;
  }
  result.sklearn_version = sk.version;
  result.sklearn_s = round(sk.seconds, 2);
  result.sklearn_cpu_s = round(sk.cpu_seconds, 2);
  result.ratio_vs_sklearn = round(sk.seconds / oursS, 2);
  result.kl_sklearn = round(sk.kl, 4);
  result.kl_rel_diff = round((ours.kl - sk.kl) / sk.kl, 4);
  result.trust_sklearn = round(sampledTrust(data, dim, sk.coords, 10), 4);
  return result;
}

if (require.main === module) {
  runTsneBench().then((r) => console.log(JSON.stringify(r, null, 2)));
}
