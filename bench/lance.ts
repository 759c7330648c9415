/**
 * Bench section "lance" (`npm run bench -- lance`; not in the default run: at 10^6 vectors it takes up to
 * 40 minutes on 2 cores). A Lance table (lib/store/lance-store.ts, the vector index optimize() chooses) and
 * usearch HNSW (lib/rank/hnsw.ts) on the same vectors, seeded and real:
 *   generator  seededRandom(20) (mulberry32) + Box-Muller: 1,000 centres from N(0, I) in 768 dimensions;
 *              point i = centre (i mod 1000) + N(0, 0.5^2 I) noise, L2-normalised. Queries: 1,000 more
 *              points of the same law (seed 21), not in the database.
 *   figures    ingest seconds (Lance: merge-insert commits of 10,000 rows, as `cbir index` writes;
 *              usearch: none, the vectors are added while building), index build seconds, disk bytes,
 *              query p50/p95 ms at batch 1, recall@10 against exact search (lib/rank/exact.ts), and the
 *              peak RSS (its own VmHWM, peakRssKb) of a child process that only opens the index and runs
 *              the queries (usearch memory-maps its saved file with Index.view, so neither loads the
 *              vectors up front). Before each child the bench runs `sync` (the build's dirty pages are
 *              written out first), and each child runs WARMUP_QUERIES unmeasured queries before the measured
 *              ones: the first database rows (the same law as the queries; seeded, every centre once), which
 *              load the pages a running service keeps in cache; their p50 is reported as warmup_p50_ms
 *              (the first child after a build reads its pages from disk: a cold start, not the steady
 *              state). Lance hits are mapped to ids by row address (LanceStore.nearest); and
 *              which search each used (Lance: its vector index, or an exact scan below FLAT_MAX_ROWS).
 *   real       the same figures (key `real`) on the default model's features of data/openclipart + food7
 *              (bench/real-features.ts, about 7,800 rows: the Lance table scans exactly), queries = up to
 *              1,000 real rows held out of the table and the graph (realBlock).
 * CBIR_LANCE_N=100000 gives a quick run; CBIR_LANCE_REAL_MAX=300 extracts only 300 real images (a dry run:
 * CBIR_LANCE_N=2000 CBIR_LANCE_REAL_MAX=300); CBIR_LANCE_KEEP=1 keeps the files (printed) for inspection.
 */
import { fork, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { makeFingerprint } from "../lib/fingerprint";
import { gaussian, seededRandom } from "../lib/random";
import { exactSearch } from "../lib/rank/exact";
import { HnswIndex } from "../lib/rank/hnsw";
import { LanceStore, chooseVectorIndex, FLAT_MAX_ROWS, type LanceRow } from "../lib/store/lance-store";
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
  warmup_queries: number;
  warmup_p50_ms: number;
}

/**
 * Writes what the query children read: the queries (float32 rows) and their exact top-K against `db`
 * (lib/rank/exact.ts), as ids for the Lance child and as row numbers (= usearch keys, HnswIndex.build)
 * for the usearch child. Returns the seconds the exact search took.
 */
async function writeQuerySet(work: string, db: FeatureMatrix, queries: FeatureMatrix): Promise<number> {
  const t = performance.now();
  const exact = await exactSearch(db, queries, { k: K, metric: "cosine", queryExpansion: 0, threads: os.cpus().length });
  const seconds = (performance.now() - t) / 1000;
  const rowOf = new Map(db.ids.map((id, i) => [id, i] as [string, number]));
  fs.writeFileSync(path.join(work, "queries.f32"), new Uint8Array(queries.data.buffer, queries.data.byteOffset, queries.data.byteLength));
  const warm = db.data.subarray(0, Math.min(WARMUP_QUERIES, db.ids.length) * db.dim);
  fs.writeFileSync(path.join(work, "warmup.f32"), new Uint8Array(warm.buffer, warm.byteOffset, warm.byteLength));
  fs.writeFileSync(path.join(work, "truth.json"), JSON.stringify(exact.map((r) => r.hits.map((h) => h.id))));
  fs.writeFileSync(path.join(work, "truth-rows.json"), JSON.stringify(exact.map((r) => r.hits.map((h) => rowOf.get(h.id)!))));
  return seconds;
}

/**
 * This process's peak RSS in kB. Not getrusage's maxRSS on Linux: a forked child starts with its parent's
 * high-water mark (it survives fork + exec; a parent holding 3 GB of vectors gives every child >= 3 GB),
 * whereas /proc's VmHWM belongs to the child's own address space.
 */
function peakRssKb(): number {
  try {
    const m = /^VmHWM:\s*(\d+)\s*kB/m.exec(fs.readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]);
  } catch {
    // no /proc (macOS): getrusage below
  }
  return process.resourceUsage().maxRSS;
}

/** Child: opens the index at `where`, runs the queries of `work` one at a time, returns latency, recall and peak RSS. */
async function childRun(kind: string, where: string, work: string, dim: number, settings: Record<string, number>): Promise<ChildFigures> {
  const q = new Float32Array(fs.readFileSync(path.join(work, "queries.f32")).buffer.slice(0));
  const truth = JSON.parse(fs.readFileSync(path.join(work, kind === "lance" ? "truth.json" : "truth-rows.json"), "utf8")) as (string | number)[][];
  const queries = truth.length;
  const times: number[] = [];
  let found = 0;
  let search: (v: Float32Array) => Promise<(string | number)[]>;
  if (kind === "lance") {
    const store = await LanceStore.open(where);
    const fingerprint = store.meta.fingerprint;
    search = async (v) => (await store.search({ ids: ["q"], dim, data: v, fingerprint }, { k: K, forceLance: true, labels: false, ...settings }))[0].hits.map((h) => h.id);
  } else {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const us = require("usearch") as typeof import("usearch");
    const index = new us.Index({ dimensions: dim, metric: us.MetricKind.Cos, quantization: us.ScalarKind.F32, connectivity: HNSW_M, expansion_add: HNSW_EF_ADD, expansion_search: settings.ef ?? 64, multi: false });
    index.view(where);
    search = async (v) => Array.from((index.search(v, K, 1) as { keys: BigUint64Array }).keys, (key) => Number(key));
  }
  const afterOpen = process.memoryUsage().rss;
  // unmeasured warm-up (see the header): database rows, not the measured queries
  const warm = new Float32Array(fs.readFileSync(path.join(work, "warmup.f32")).buffer.slice(0));
  const warmTimes: number[] = [];
  for (let i = 0; i < warm.length / dim; i++) {
    const t0 = performance.now();
    await search(warm.subarray(i * dim, (i + 1) * dim));
    warmTimes.push(performance.now() - t0);
  }
  for (let i = 0; i < queries; i++) {
    const v = q.subarray(i * dim, (i + 1) * dim);
    const t0 = performance.now();
    const ids = await search(v);
    times.push(performance.now() - t0);
    const want = new Set(truth[i]);
    found += ids.filter((id) => want.has(id)).length;
  }
  return {
    p50_ms: round(percentile(times, 50)),
    p95_ms: round(percentile(times, 95)),
    recall_at_10: round(found / (queries * K), 4),
    peak_rss_mb: Math.round(peakRssKb() / 1024),
    rss_after_open_mb: Math.round(afterOpen / 1024 / 1024),
    warmup_queries: warmTimes.length,
    warmup_p50_ms: round(percentile(warmTimes, 50)),
  };
}

function runChild(kind: string, where: string, work: string, dim: number, settings: Record<string, number> = {}): Promise<ChildFigures> {
  // the build's dirty pages are written out first, so a child does not search while the kernel writes gigabytes
  spawnSync("sync");
  return new Promise((resolve, reject) => {
    const p = fork(__filename, [], { execArgv: ["--import", "tsx"], env: { ...process.env, CBIR_LANCE_CHILD: JSON.stringify({ kind, where, work, dim, settings }) } });
    let got: ChildFigures | undefined;
    p.on("message", (m) => (got = m as ChildFigures));
    p.on("error", reject);
    p.on("exit", (code) => (got ? resolve(got) : reject(new Error(`lance bench child (${kind}) exited with ${code}`))));
  });
}

/** Unmeasured queries each query child runs first (see the header and childRun). */
const WARMUP_QUERIES = 1000;
const HNSW_M = 16;
const HNSW_EF_ADD = 128;
const log = (s: string) => process.stderr.write(`[lance bench] ${s}\n`);

/**
 * A Lance table of `db` (no post-processing, so the raw column is searched) in `work`: ingest, optimize
 * (compact + the vector index chooseVectorIndex picks for its size), disk bytes, and a query child per
 * setting when there is a vector index (`default` = LanceStore.search's, ef 64 without re-ranking, ef 200
 * with refine 2; or the CBIR_LANCE_SWEEP pairs), one exact scan when there is none.
 * Queries go through LanceDB's search (forceLance), not the in-memory ranking `cbir query` uses up to
 * AUGMENT_MAX_ROWS rows.
 */
async function benchLanceTable(db: FeatureMatrix, work: string, label: string): Promise<Record<string, unknown>> {
  const uri = path.join(work, "vectors.lance");
  log(`${label}: lance ingest`);
  let t = performance.now();
  const store = await LanceStore.openOrCreate(uri, { fingerprint: db.fingerprint, dim: db.dim });
  const BATCH = 10_000;
  for (let b = 0; b < db.ids.length; b += BATCH) {
    const rows: LanceRow[] = [];
    for (let i = b; i < Math.min(db.ids.length, b + BATCH); i++) rows.push({ id: db.ids[i], path: db.ids[i], sha256: "", size: 0, mtimeMs: 0, raw: db.data.subarray(i * db.dim, (i + 1) * db.dim) });
    await store.upsert(rows);
  }
  const lance: Record<string, unknown> = { ingest_s: round((performance.now() - t) / 1000, 1) };
  log(`${label}: lance optimize (compact + vector index)`);
  t = performance.now();
  const opt = await store.optimize({ cleanupOlderThan: new Date() });
  lance.build_s = round((performance.now() - t) / 1000, 1);
  lance.index = opt.index ?? "flat (no vector index)";
  lance.chosen = chooseVectorIndex(db.ids.length, db.dim);
  lance.search = opt.index
    ? `LanceDB vector index ${(await store.vectorIndex()) ?? "?"} (cosine)`
    : `LanceDB exact scan, cosine (${db.ids.length} rows < FLAT_MAX_ROWS ${FLAT_MAX_ROWS}: no vector index)`;
  store.close();
  lance.disk_bytes = duBytes(uri);
  // CBIR_LANCE_SWEEP="64:2,100:2" runs those ef:refineFactor pairs instead (a sweep of the search settings)
  const sweep = process.env.CBIR_LANCE_SWEEP?.split(",").map((p) => p.split(":").map(Number)).map(([ef, r]): [string, Record<string, number>] => [`ef${ef}_refine${r}`, { ef, refineFactor: r }]);
  const runs: [string, Record<string, number>][] = opt.index
    ? sweep ?? [
        // "default": what `cbir query` does (LanceStore.search's defaults: ef max(100, 10k), refineFactor 2)
        ["default", {}],
        ["ef64_no_refine", { ef: 64, refineFactor: 0 }],
        ["ef200_refine2", { ef: 200, refineFactor: 2 }],
      ]
    : [["flat", {}]];
  for (const [base, settings] of runs) {
    // a setting swept twice keeps both figures (ef100_refine2, ef100_refine2_2)
    let name = base;
    for (let i = 2; name in lance; i++) name = `${base}_${i}`;
    log(`${label}: lance queries ${name}`);
    lance[name] = await runChild("lance", uri, work, db.dim, settings);
  }
  return lance;
}

/** usearch HNSW of `db` (lib/rank/hnsw.ts), saved in `work` and memory-mapped by the query child, at ef 64 and 200. */
async function benchUsearch(db: FeatureMatrix, work: string, label: string): Promise<Record<string, unknown>> {
  log(`${label}: usearch build`);
  const t = performance.now();
  const h = HnswIndex.build(db, { metric: "cosine", connectivity: HNSW_M, expansionAdd: HNSW_EF_ADD, expansionSearch: 64, threads: os.cpus().length });
  const usearch: Record<string, unknown> = { ingest_s: 0, build_s: round((performance.now() - t) / 1000, 1), settings: `M ${HNSW_M}, ef_construction ${HNSW_EF_ADD}, f32`, search: "usearch HNSW, cosine" };
  const file = path.join(work, "vectors.usearch");
  h.save(file);
  usearch.disk_bytes = duBytes(file);
  for (const [name, settings] of [
    ["ef64", { ef: 64 }],
    ["ef200", { ef: 200 }],
  ] as const) {
    log(`${label}: usearch queries ${name}`);
    usearch[name] = await runChild("usearch", file, work, db.dim, settings);
  }
  return usearch;
}

/** The seeded figures (GENERATOR) at n vectors. */
async function seededBlock(n: number, work: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { generator: GENERATOR, n, dim: DIM, queries: QUERIES, k: K, raw_vector_bytes: n * DIM * 4 };
  const t = performance.now();
  const { db, queries } = dataset(n);
  out.generate_s = round((performance.now() - t) / 1000, 1);
  log(`exact top-${K} of ${QUERIES} queries over ${n} vectors`);
  out.exact_s = round(await writeQuerySet(work, db, queries), 1);
  out.lance = await benchLanceTable(db, work, "seeded");
  if (!process.env.CBIR_LANCE_SWEEP) out.usearch = await benchUsearch(db, work, "seeded");
  const def = (out.lance as Record<string, unknown>).default as ChildFigures | undefined;
  if (def)
    out.targets_issue_20 = {
      [`default_p50_ms (< 5) at recall_at_10 (>= 0.95), n ${n}`]: `${def.p50_ms} ms, recall ${def.recall_at_10}: ${def.p50_ms < 5 && def.recall_at_10 >= 0.95 ? "met" : "NOT met"}`,
      "default_query_child_peak_rss_mb (< raw vector MB)": `${def.peak_rss_mb} < ${Math.round((out.raw_vector_bytes as number) / 1048576)}: ${def.peak_rss_mb * 1024 * 1024 < (out.raw_vector_bytes as number) ? "met" : "NOT met"}`,
    };
  return out;
}

/** Rows drawn at random (seed 22) from `n`, as sorted row numbers: `count` of them. */
function heldOutRows(n: number, count: number): number[] {
  const rand = seededRandom(22);
  const rows = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rand() * (n - i));
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  return rows.slice(0, count).sort((a, b) => a - b);
}

function pickRows(m: FeatureMatrix, rows: number[]): FeatureMatrix {
  const data = new Float32Array(rows.length * m.dim);
  rows.forEach((r, i) => data.set(m.data.subarray(r * m.dim, (r + 1) * m.dim), i * m.dim));
  return { ...m, ids: rows.map((r) => m.ids[r]), data };
}

/**
 * The same figures on real features (bench/real-features.ts: the default model on data/openclipart +
 * food7), CBIR_LANCE_REAL_MAX images at most. Queries are real rows held out of the table and of the
 * HNSW graph, so no query finds itself: min(1,000, a quarter of the rows), drawn with seed 22.
 */
async function realBlock(work: string): Promise<Record<string, unknown>> {
  const max = process.env.CBIR_LANCE_REAL_MAX ? Number(process.env.CBIR_LANCE_REAL_MAX) : undefined;
  if (max !== undefined && !(Number.isSafeInteger(max) && max >= 8)) throw new Error(`CBIR_LANCE_REAL_MAX must be an integer >= 8, not '${process.env.CBIR_LANCE_REAL_MAX}'`);
  // imported here, not at the top: the query children load this file and must not load the model runtime
  const { realFeatures } = await import("./real-features");
  log(`real: extracting features${max ? ` (at most ${max} images)` : ""}`);
  const real = await realFeatures({ max });
  if (!real) return { skipped: "neither data/openclipart (`npm run data:openclipart`) nor ../shared/data/malaysian_food7 is present" };
  const { features } = real;
  const n = features.ids.length;
  const held = heldOutRows(n, Math.min(QUERIES, Math.floor(n / 4)));
  const heldSet = new Set(held);
  const db = pickRows(features, features.ids.map((_, i) => i).filter((i) => !heldSet.has(i)));
  const queries = pickRows(features, held);
  const out: Record<string, unknown> = {
    sources: real.sources,
    model: real.model,
    features: "default model, no colour histogram, no whitening (bench/real-features.ts)",
    images: n,
    images_available: real.available,
    dim: features.dim,
    extract_s: round(real.extractS, 1),
    table_rows: db.ids.length,
    queries: queries.ids.length,
    query_rows: `${queries.ids.length} real rows drawn at random (seed 22) and held out of the table and the HNSW graph; recall@${K} against exact cosine search over the other ${db.ids.length}`,
    k: K,
    raw_vector_bytes: db.ids.length * db.dim * 4,
  };
  const dir = path.join(work, "real");
  fs.mkdirSync(dir);
  log(`real: exact top-${K} of ${queries.ids.length} queries over ${db.ids.length} vectors`);
  out.exact_s = round(await writeQuerySet(dir, db, queries), 2);
  out.lance = await benchLanceTable(db, dir, "real");
  out.usearch = await benchUsearch(db, dir, "real");
  return out;
}

export async function runLanceBench(): Promise<Record<string, unknown>> {
  const n = Number(process.env.CBIR_LANCE_N ?? 1_000_000);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "cbir-bench-lance-"));
  // the seeded figures keep their top-level keys; the seeded vectors are dropped before the real block
  const out: Record<string, unknown> = { ...(await seededBlock(n, work)), work };
  if (!process.env.CBIR_LANCE_SWEEP) out.real = await realBlock(work);
  if (!process.env.CBIR_LANCE_KEEP) fs.rmSync(work, { recursive: true, force: true });
  return out;
}

if (process.env.CBIR_LANCE_CHILD) {
  const { kind, where, work, dim, settings } = JSON.parse(process.env.CBIR_LANCE_CHILD) as { kind: string; where: string; work: string; dim: number; settings: Record<string, number> };
  childRun(kind, where, work, dim, settings).then(
    (f) => process.send!(f, () => process.exit(0)),
    (e) => {
      process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
      process.exit(1);
    },
  );
}
