/**
 * Bench section "search": exact top-k on ONNX Runtime's MatMul (100,000 x 1,280 seeded random vectors: one
 * query, batches of 64; all-pairs over 10,000 x 1,280), NumPy doing the same single query in the same run
 * (ratio_vs_numpy), and HNSW (usearch) recall@10 against exact search on real features of data/openclipart
 * plus food7 when they are present.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { makeFingerprint } from "../lib/fingerprint";
import { ExactIndex, rankAllFast } from "../lib/rank/search";
import { HnswIndex } from "../lib/rank/hnsw";
import { scanFolder } from "../lib/prepare/scan";
import { computeFeatures } from "../lib/pipeline/features";
import { seededRandom } from "../lib/random";
import type { FeatureMatrix } from "../lib/types";
import { peerAvailable, runPeer } from "./peers";

const D = 1280;

function randomMatrix(n: number, d: number, seed: number): FeatureMatrix {
  const rand = seededRandom(seed);
  const data = new Float32Array(n * d);
  for (let i = 0; i < data.length; i++) data[i] = rand() - 0.5;
  return { ids: Array.from({ length: n }, (_, i) => `img${i}`), dim: d, data, fingerprint: makeFingerprint({ backbone: "bench" }) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function exactFigures(): Promise<Record<string, unknown>> {
  const db = randomMatrix(100_000, D, 1);
  const index = await ExactIndex.create(db, { metric: "cosine" });
  const one = randomMatrix(1, D, 2);
  await index.search(one, { k: 10 });
  const times: number[] = [];
  for (let i = 0; i < 11; i++) {
    const t = performance.now();
    await index.search(one, { k: 10 });
    times.push(performance.now() - t);
  }
  // throughput in steady state: one warm-up batch (ONNX Runtime plans the 64-row shape once), then the
  // median of three runs of 640 queries
  const qs = randomMatrix(640, D, 3);
  await index.search(randomMatrix(64, D, 5), { k: 10, batch: 64 });
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t1 = performance.now();
    await index.search(qs, { k: 10, batch: 64 });
    runs.push(640 / ((performance.now() - t1) / 1000));
  }
  const qps = median(runs);
  await index.dispose();
  const t2 = performance.now();
  await rankAllFast(randomMatrix(10_000, D, 4), { k: 10, kernel: "onnx" });
  const allPairs = (performance.now() - t2) / 1000;

  const out: Record<string, unknown> = {
    kernel: index.kernel,
    single_query_ms: Math.round(median(times) * 10) / 10,
    batch64_queries_per_s: Math.round(qps),
    all_pairs_10k_s: Math.round(allPairs * 100) / 100,
    targets: "single < 80 ms, batch >= 300 q/s, all-pairs < 10 s",
  };
  if (peerAvailable("numpy")) {
    // the same single cosine top-10 over 100,000 x 1,280 in NumPy (BLAS), data generated there
    const r = runPeer(`
import numpy as np, time, json
rng = np.random.default_rng(1)
db = rng.random((100000, ${D}), dtype=np.float32) - 0.5
db /= np.linalg.norm(db, axis=1, keepdims=True)
q = rng.random((1, ${D}), dtype=np.float32) - 0.5
ts = []
for _ in range(11):
    t = time.perf_counter(); s = db @ (q[0] / np.linalg.norm(q)); top = np.argpartition(-s, 10)[:10]; top = top[np.argsort(-s[top])]; ts.append(time.perf_counter() - t)
print(json.dumps({"single_query_ms": sorted(ts)[5] * 1000}))
`);
    out.numpy_single_query_ms = Math.round(Number(r.single_query_ms) * 10) / 10;
    out.ratio_vs_numpy = Math.round((Number(r.single_query_ms) / Number(out.single_query_ms)) * 100) / 100;
  } else out.numpy = "not installed";
  return out;
}

/** HNSW recall@10 against exact search, on real features (needs data/openclipart; adds food7 when present). */
async function hnswFigures(): Promise<Record<string, unknown>> {
  const root = path.resolve(__dirname, "..");
  const clipart = path.join(root, "data/openclipart");
  if (!fs.existsSync(clipart)) return { hnsw: "skipped: run `npm run data:openclipart` first" };
  const items = scanFolder(clipart).items;
  const food7 = path.resolve(root, "../shared/data/malaysian_food7");
  if (fs.existsSync(food7)) items.push(...scanFolder(food7).items.map((it) => ({ ...it, name: `food7/${it.name}` })));
  const t0 = performance.now();
  const { features } = await computeFeatures(items, { histogramWeight: 0, whiten: 0 });
  const extractS = (performance.now() - t0) / 1000;
  const exact = await ExactIndex.create(features, { metric: "cosine" });
  const truth = await exact.search(features, { k: 10, leaveOneOut: true });
  await exact.dispose();
  const hnsw = HnswIndex.build(features, { metric: "cosine" });
  const t1 = performance.now();
  const approx = hnsw.search(features, { k: 10, leaveOneOut: true });
  const perQueryMs = (performance.now() - t1) / features.ids.length;
  let hits = 0;
  truth.forEach((r, i) => {
    const want = new Set(r.hits.map((h) => h.id));
    hits += approx[i].hits.filter((h) => want.has(h.id)).length;
  });
  return {
    hnsw_images: features.ids.length,
    hnsw_dim: features.dim,
    hnsw_extract_s: Math.round(extractS * 10) / 10,
    hnsw_recall_at_10: Math.round((hits / (truth.length * 10)) * 1000) / 1000,
    hnsw_ms_per_query: Math.round(perQueryMs * 1000) / 1000,
    hnsw_targets: "recall@10 >= 0.95 at < 1 ms per query",
  };
}

export async function runSearchBench(): Promise<Record<string, unknown>> {
  return { ...(await exactFigures()), ...(await hnswFigures()) };
}
