/**
 * Bench section "lance" (`npm run bench -- lance`; not in the default run: at 10^6 vectors it takes up to
 * 40 minutes on 2 cores). A Lance table (lib/store/lance-store.ts, the vector index optimize() chooses) and
 * usearch HNSW (lib/rank/hnsw.ts) on the same seeded vectors:
 *   generator  seededRandom(20) (mulberry32) + Box-Muller: 1,000 centres from N(0, I) in 768 dimensions;
 *              point i = centre (i mod 1000) + N(0, 0.5^2 I) noise, L2-normalised. Queries: 1,000 more
 *              points of the same law (seed 21), not in the database.
 *   figures    ingest seconds (Lance: merge-insert commits of 10,000 rows, as `cbir index` writes;
 *              usearch: none, the vectors are added while building), index build seconds, disk bytes,
 *              query p50/p95 ms at batch 1, recall@10 against exact search (lib/rank/search.ts), and the
 *              peak RSS of a child process that only opens the index and runs the 1,000 queries (usearch
 *              memory-maps its saved file with Index.view, so neither loads the vectors up front).
 * CBIR_LANCE_N=100000 gives a quick run; CBIR_LANCE_KEEP=1 keeps the files (printed) for inspection.
 */
import { fork } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { makeFingerprint } from "../lib/fingerprint";
import { gaussian, seededRandom } from "../lib/random";
import { rankQueriesFast } from "../lib/rank/search";
import { HnswIndex } from "../lib/rank/hnsw";
import { LanceStore, chooseVectorIndex, type LanceRow } from "../lib/store/lance-store";
import type { FeatureMatrix } from "../lib/types";

const DIM = 768;
const CENTRES = 1000;
const NOISE = 0.5;
const QUERIES = 1000;
const K = 10;
const fp = makeFingerprint({ backbone: "bench-lance-synthetic" });

export const GENERATOR = `mulberry32 seed 20 (queries: seed 21) + Box-Muller; ${CENTRES} centres ~ N(0, I_${DIM}); point i = centre[i mod ${CENTRES}] + N(0, ${NOISE}^2 I), L2-normalised`;

function centres(): Float32Array {
  const g = gaussian(seededRandom(20));
  const c = new Float32Array(CENTRES * DIM);
  for (let i = 0; i < c.length; i++) c[i] = g();
  return c;
}

/** n points (row-major), drawing the noise from `seed` (the centres are always seed 20's first draws). */
function points(n: number, c: Float32Array, g: () => number, prefix: string): FeatureMatrix {
  const data = new Float32Array(n * DIM);
  for (let i = 0; i < n; i++) {
    const ci = i % CENTRES;
    let norm = 0;
    for (let j = 0; j < DIM; j++) {
      const v = c[ci * DIM + j] + NOISE * g();
      data[i * DIM + j] = v;
      norm += v * v;
    }
    const inv = 1 / Math.sqrt(norm);
    for (let j = 0; j < DIM; j++) data[i * DIM + j] *= inv;
  }
  return { ids: Array.from({ length: n }, (_, i) => `${prefix}${i}`), dim: DIM, data, fingerprint: fp };
}

function dataset(n: number): { db: FeatureMatrix; queries: FeatureMatrix } {
  const c = centres();
  // the database continues seed 20's stream after the centres; the queries use seed 21
  const g = gaussian(seededRandom(20));
  for (let i = 0; i < c.length; i++) g();
  return { db: points(n, c, g, "v"), queries: points(QUERIES, c, gaussian(seededRandom(21)), "q") };
}

function duBytes(p: string): number {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((s, e) => s + duBytes(path.join(p, e)), 0);
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

interface ChildFigures {
  p50_ms: number;
  p95_ms: number;
  recall_at_10: number;
  peak_rss_mb: number;
  rss_after_open_mb: number;
}

/** Child: opens the index at `where`, runs the queries one at a time, returns latency, recall and peak RSS. */
async function childRun(kind: string, where: string, work: string, settings: Record<string, number>): Promise<ChildFigures> {
  const q = new Float32Array(fs.readFileSync(path.join(work, "queries.f32")).buffer.slice(0));
  const truth = JSON.parse(fs.readFileSync(path.join(work, "truth.json"), "utf8")) as string[][];
  const times: number[] = [];
  let found = 0;
  let search: (v: Float32Array) => Promise<string[]>;
  if (kind === "lance") {
    const store = await LanceStore.open(where);
    search = async (v) => (await store.search({ ids: ["q"], dim: DIM, data: v, fingerprint: fp }, { k: K, forceLance: true, labels: false, ...settings }))[0].hits.map((h) => h.id);
  } else {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const us = require("usearch") as typeof import("usearch");
    const index = new us.Index({ dimensions: DIM, metric: us.MetricKind.Cos, quantization: us.ScalarKind.F32, connectivity: 16, expansion_add: 128, expansion_search: settings.ef ?? 64, multi: false });
    index.view(where);
    search = async (v) => Array.from((index.search(v, K, 1) as { keys: BigUint64Array }).keys, (key) => `v${key}`);
  }
  const afterOpen = process.memoryUsage().rss;
  for (let i = 0; i < QUERIES; i++) {
    const v = q.subarray(i * DIM, (i + 1) * DIM);
    const t0 = performance.now();
    const ids = await search(v);
    times.push(performance.now() - t0);
    const want = new Set(truth[i]);
    found += ids.filter((id) => want.has(id)).length;
  }
  return {
    p50_ms: round(percentile(times, 50)),
    p95_ms: round(percentile(times, 95)),
    recall_at_10: round(found / (QUERIES * K), 4),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    rss_after_open_mb: Math.round(afterOpen / 1024 / 1024),
  };
}

function runChild(kind: string, where: string, work: string, settings: Record<string, number> = {}): Promise<ChildFigures> {
  return new Promise((resolve, reject) => {
    const p = fork(__filename, [], { execArgv: ["--import", "tsx"], env: { ...process.env, CBIR_LANCE_CHILD: JSON.stringify({ kind, where, work, settings }) } });
    let got: ChildFigures | undefined;
    p.on("message", (m) => (got = m as ChildFigures));
    p.on("error", reject);
    p.on("exit", (code) => (got ? resolve(got) : reject(new Error(`lance bench child (${kind}) exited with ${code}`))));
  });
}

export async function runLanceBench(): Promise<Record<string, unknown>> {
  const n = Number(process.env.CBIR_LANCE_N ?? 1_000_000);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-bench-lance-"));
  const out: Record<string, unknown> = { generator: GENERATOR, n, dim: DIM, queries: QUERIES, k: K, raw_vector_bytes: n * DIM * 4, work };
  const log = (s: string) => process.stderr.write(`[lance bench] ${s}\n`);
  let t = performance.now();
  const { db, queries } = dataset(n);
  out.generate_s = round((performance.now() - t) / 1000, 1);
  fs.writeFileSync(path.join(work, "queries.f32"), new Uint8Array(queries.data.buffer));

  log(`exact top-${K} of ${QUERIES} queries over ${n} vectors`);
  t = performance.now();
  const exact = await rankQueriesFast(db, queries, { k: K, metric: "cosine", queryExpansion: 0, threads: os.cpus().length });
  out.exact_s = round((performance.now() - t) / 1000, 1);
  fs.writeFileSync(path.join(work, "truth.json"), JSON.stringify(exact.map((r) => r.hits.map((h) => h.id))));

  // LanceDB
  const uri = path.join(work, "vectors.lance");
  log("lance ingest");
  t = performance.now();
  const store = await LanceStore.openOrCreate(uri, { fingerprint: fp, dim: DIM, post: [] });
  const BATCH = 10_000;
  for (let b = 0; b < n; b += BATCH) {
    const rows: LanceRow[] = [];
    for (let i = b; i < Math.min(n, b + BATCH); i++) rows.push({ id: db.ids[i], path: db.ids[i], sha256: "", size: 0, mtimeMs: 0, raw: db.data.subarray(i * DIM, (i + 1) * DIM) });
    await store.upsert(rows);
  }
  const lance: Record<string, unknown> = { ingest_s: round((performance.now() - t) / 1000, 1) };
  log("lance optimize (compact + vector index)");
  t = performance.now();
  const opt = await store.optimize({ cleanupOlderThan: new Date() });
  lance.build_s = round((performance.now() - t) / 1000, 1);
  lance.index = opt.index ?? "flat (no vector index)";
  lance.chosen = chooseVectorIndex(n, DIM);
  store.close();
  lance.disk_bytes = duBytes(uri);
  for (const [name, settings] of [
    ["ef64", { ef: 64 }],
    ["ef200_refine2", { ef: 200, refineFactor: 2 }],
  ] as const) {
    log(`lance queries ${name}`);
    lance[name] = await runChild("lance", uri, work, settings);
  }
  out.lance = lance;

  // usearch HNSW (lib/rank/hnsw.ts), saved and memory-mapped by the query child
  log("usearch build");
  t = performance.now();
  const h = HnswIndex.build(db, { metric: "cosine", connectivity: 16, expansionAdd: 128, expansionSearch: 64, threads: os.cpus().length });
  const usearch: Record<string, unknown> = { ingest_s: 0, build_s: round((performance.now() - t) / 1000, 1), settings: "M 16, ef_construction 128, f32" };
  const file = path.join(work, "vectors.usearch");
  h.save(file);
  usearch.disk_bytes = duBytes(file);
  for (const [name, settings] of [
    ["ef64", { ef: 64 }],
    ["ef200", { ef: 200 }],
  ] as const) {
    log(`usearch queries ${name}`);
    usearch[name] = await runChild("usearch", file, work, settings);
  }
  out.usearch = usearch;
  if (!process.env.CBIR_LANCE_KEEP) fs.rmSync(work, { recursive: true, force: true });
  return out;
}

if (process.env.CBIR_LANCE_CHILD) {
  const { kind, where, work, settings } = JSON.parse(process.env.CBIR_LANCE_CHILD) as { kind: string; where: string; work: string; settings: Record<string, number> };
  childRun(kind, where, work, settings).then(
    (f) => process.send!(f, () => process.exit(0)),
    (e) => {
      process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
      process.exit(1);
    },
  );
}
