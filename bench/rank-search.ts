/**
 * Exact-search targets (bench, not tests): top-10 over 100,000 x 1,280 float32 for one query and in batches
 * of 64, and all-pairs top-10 over 10,000 x 1,280. Run: node --import tsx bench/rank-search.ts
 */
import { makeFingerprint } from "../lib/fingerprint";
import { ExactIndex, rankAllFast } from "../lib/rank/search";
import type { FeatureMatrix } from "../lib/types";

function randomMatrix(n: number, d: number, seed: number): FeatureMatrix {
  let s = seed;
  const data = new Float32Array(n * d);
  for (let i = 0; i < data.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    data[i] = s / 2 ** 32 - 0.5;
  }
  return { ids: Array.from({ length: n }, (_, i) => `img${i}`), dim: d, data, fingerprint: makeFingerprint({ backbone: "bench" }) };
}

(async () => {
  const D = 1280;
  const db = randomMatrix(Number(process.env.N ?? 100_000), D, 1);
  const t0 = performance.now();
  const index = await ExactIndex.create(db, { metric: "cosine" });
  console.log(`prepare ${db.ids.length} x ${D} (${index.kernel}): ${(performance.now() - t0).toFixed(0)} ms`);
  const one = randomMatrix(1, D, 2);
  await index.search(one, { k: 10 });
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await index.search(one, { k: 10 });
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(`single query top-10: median ${times[5].toFixed(1)} ms, best ${times[0].toFixed(1)} ms (target < 80 ms)`);
  const qs = randomMatrix(640, D, 3);
  const t1 = performance.now();
  await index.search(qs, { k: 10, batch: 64 });
  const s1 = (performance.now() - t1) / 1000;
  console.log(`640 queries in batches of 64: ${(640 / s1).toFixed(0)} queries/s (target >= 300)`);
  await index.dispose();

  const small = randomMatrix(10_000, D, 4);
  const t2 = performance.now();
  const r = await rankAllFast(small, { k: 10, kernel: "onnx" });
  console.log(`all-pairs top-10, 10,000 x 1,280: ${((performance.now() - t2) / 1000).toFixed(2)} s (target < 10 s), ${r.length} rankings`);
})();
