/**
 * t-SNE maps of feature vectors, in 2-D.
 * - "exact": the `tsne-js` package, the product's original choice. It is quadratic in time and memory,
 *   fine for the originals' 36-image figures and hopeless beyond a few hundred points. It has no seed
 *   option: its `init()` draws the start layout from Math.random, so two runs differ. We overwrite that
 *   start layout with our own seeded one (PCA or seeded noise) before `run()`; nothing else in tsne-js is
 *   random, so the output becomes deterministic. Note that tsne-js calibrates the perplexity on
 *   non-squared distances and keeps exaggeration for only 100 iterations, so it is not numerically the
 *   same algorithm as the fast path.
 * - "barnes-hut": our own Barnes-Hut t-SNE (tsne-affinity.ts, tsne-bh.ts) following scikit-learn's
 *   choices, so maps and KL values can be compared with it.
 * - "auto" (default): exact up to EXACT_MAX_POINTS points, Barnes-Hut above.
 *
 * `tsne` picks the path (above) and the threads: the Barnes-Hut path's neighbour search, PCA and gradient
 * run on worker threads (worker_threads sharing memory, tsne-pool.ts) when the input is large enough to
 * repay their start-up, on the calling thread otherwise. The map is the same, bit for bit, whatever the
 * thread count.
 */
import { CbirError, expectOneOf, invalidOption } from "../errors";
import { reporterOf, type Reporter } from "../report";
import { createDotMatrix } from "../simd/dots";
import { TILE, affinitySteps, symmetrize, type SparseP } from "./tsne-affinity";
import { optimiseSteps } from "./tsne-bh";
import { pcaInit, pcaSteps, randomInit } from "./tsne-init";
import { LocalExecutor, TsneWorkerPool, runSteps, runStepsAsync, tsneThreads, type Steps, type TsneExecutor } from "./tsne-pool";

export const TSNE_METHODS = ["auto", "exact", "barnes-hut"] as const;
export type TsneMethod = (typeof TSNE_METHODS)[number];
export const TSNE_INITS = ["pca", "random"] as const;
export type TsneInit = (typeof TSNE_INITS)[number];

/** Largest collection that "auto" sends to the exact (tsne-js) path. */
export const EXACT_MAX_POINTS = 100;
/** Smallest collection for which tsne starts worker threads (below, start-up costs more than they save). */
export const PARALLEL_MIN_POINTS = 1000;

/** PARALLEL_MIN_POINTS, or $TSNE_MIN_PAR (a tuning knob for the bench), read at each call. */
function parallelMinPoints(): number {
  return Number(process.env.TSNE_MIN_PAR ?? PARALLEL_MIN_POINTS);
}

export interface TsneOptions {
  /** "auto" (default: exact up to EXACT_MAX_POINTS points, Barnes-Hut above), "exact" or "barnes-hut". */
  method?: TsneMethod;
  /** Effective number of neighbours; default 30, clamped to (n - 1) / 3 for small collections. */
  perplexity?: number;
  /** Gradient-descent iterations, at least 50; default 1000. The first min(250, iterations / 2) use early exaggeration 12. */
  iterations?: number;
  /** Default "auto" = max(n / 12 / 4, 50), as scikit-learn. */
  learningRate?: number | "auto";
  /** Seed of the start layout (and of the PCA's random start block); default 0. Same seed, same map. */
  seed?: number;
  /** Start layout: "pca" (default, as scikit-learn) or "random". */
  init?: TsneInit;
  /**
   * Threads of the Barnes-Hut path, 1 to 64 (default $CBIR_TSNE_THREADS, else the cores up to 4); used only
   * from PARALLEL_MIN_POINTS points. The map does not depend on it.
   */
  threads?: number;
  reporter?: Reporter;
}

export interface TsneResult {
  /** n * 2 coordinates, row-major. */
  coords: Float32Array;
  /** Kullback-Leibler divergence between input and map affinities at the end. */
  kl: number;
  method: "exact" | "barnes-hut";
  /** The perplexity actually used (after clamping). */
  perplexity: number;
}

const EARLY_EXAGGERATION = 12;
const THETA = 0.5;

/**
 * The t-SNE map of n rows of `dim` values (row-major `data`): exact or Barnes-Hut, on the calling thread or
 * on `opts.threads` threads (see TsneOptions). Rejects if a worker fails; the workers are always terminated
 * before it settles.
 */
export async function tsne(data: Float32Array, n: number, dim: number, opts: TsneOptions = {}): Promise<TsneResult> {
  const threads = tsneThreads(opts.threads);
  const job = prepare(data, n, dim, opts);
  if ("coords" in job) return job;
  if (job.exact) return exactTsne(data, n, dim, job, job.rep);
  const shareable = typeof SharedArrayBuffer !== "undefined" && createDotMatrix(new Float32Array(4), 1, 4, 1, 1, true) !== undefined;
  if (threads === 1 || n < parallelMinPoints() || !shareable) {
    const exec = new LocalExecutor();
    return runSteps(barnesHutSteps(exec, data, n, dim, job), exec);
  }
  job.rep.log(`[t-SNE] ${threads} threads`);
  const pool = new TsneWorkerPool(threads);
  try {
    return await runStepsAsync(barnesHutSteps(pool, data, n, dim, job), pool);
  } finally {
    await pool.close();
  }
}

interface Settings {
  perplexity: number;
  iterations: number;
  learningRate: number;
  init: TsneInit;
  seed: number;
}

interface Job extends Settings {
  exact: boolean;
  rep: ReturnType<typeof reporterOf>;
}

/** Validates the call; returns the result itself when there is nothing to compute. */
function prepare(data: Float32Array, n: number, dim: number, opts: TsneOptions): Job | TsneResult {
  if (!Number.isInteger(n) || n < 1) throw invalidOption("n", "positive integer", n);
  if (!Number.isInteger(dim) || dim < 1) throw invalidOption("dim", "positive integer", dim);
  if (!(data instanceof Float32Array) || data.length !== n * dim) {
    throw new CbirError("E_BAD_OPTION", `t-SNE input holds ${data?.length} values but n * dim = ${n * dim}.`, {
      fix: "pass the row-major feature matrix (FeatureMatrix.data) with its row count and dimension.",
    });
  }
  for (let t = 0; t < data.length; t++) {
    if (!Number.isFinite(data[t])) {
      throw new CbirError("E_BAD_OPTION", `t-SNE input row ${Math.floor(t / dim)} holds ${data[t]}.`, {
        fix: "remove or re-extract that image's features; NaN or Infinity cannot be embedded.",
      });
    }
  }
  const method = expectOneOf("method", opts.method ?? "auto", TSNE_METHODS);
  const init = expectOneOf("init", opts.init ?? "pca", TSNE_INITS);
  const wanted = opts.perplexity ?? 30;
  if (typeof wanted !== "number" || !Number.isFinite(wanted) || wanted <= 0) throw invalidOption("perplexity", "positive number", wanted);
  const iterations = opts.iterations ?? 1000;
  if (!Number.isInteger(iterations) || iterations < 50 || iterations > 100_000) throw invalidOption("iterations", "integer between 50 and 100000", iterations);
  const lrOpt = opts.learningRate ?? "auto";
  if (lrOpt !== "auto" && (typeof lrOpt !== "number" || !Number.isFinite(lrOpt) || lrOpt <= 0)) throw invalidOption("learningRate", 'positive number or "auto"', lrOpt);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw invalidOption("seed", "integer", seed);
  const rep = reporterOf(opts.reporter);

  if (n < 3) {
    // Nothing to arrange: one point at the origin, two points on a line.
    const coords = new Float32Array(n * 2);
    if (n === 2) coords[2] = 1;
    return { coords, kl: 0, method: method === "exact" ? "exact" : "barnes-hut", perplexity: wanted };
  }
  // A perplexity near n cannot be reached with n - 1 neighbours; scikit-learn refuses, we clamp.
  const maxPerplexity = (n - 1) / 3;
  let perplexity = wanted;
  if (perplexity > maxPerplexity) {
    perplexity = Math.max(1, maxPerplexity);
    rep.info(`t-SNE: perplexity ${wanted} is too large for ${n} points; using ${round(perplexity)} ((n - 1) / 3).`);
  }
  const learningRate = lrOpt === "auto" ? Math.max(n / EARLY_EXAGGERATION / 4, 50) : lrOpt;
  const exact = method === "exact" || (method === "auto" && n <= EXACT_MAX_POINTS);
  if (exact && n > 500) rep.warn(`t-SNE: the exact method is quadratic in time and memory; ${n} points will be slow. Use method "barnes-hut".`);
  rep.log(`[t-SNE] ${exact ? "exact (tsne-js)" : "Barnes-Hut"}: ${n} points x ${dim} dims, perplexity ${round(perplexity)}, ${iterations} iterations, learning rate ${round(learningRate)}, ${init} init`);
  return { perplexity, iterations, learningRate, init, seed, exact, rep };
}

function* barnesHutSteps(exec: TsneExecutor, data: Float32Array, n: number, dim: number, s: Job): Steps<TsneResult> {
  const { rep } = s;
  // One padded copy of the input serves the neighbour search and the PCA (shared with the workers).
  const dm = createDotMatrix(data, n, dim, TILE / 4, exec.threads, exec.shared);
  if (!dm && exec.threads > 1) throw new Error("t-SNE workers need the shared SIMD kernel (bug: checked by tsne)");
  const Y = s.init === "pca" ? yield* pcaSteps(exec, dm ? dm.matrix : data, dm ? dm.stride : dim, n, dim, s.seed) : randomInit(n, s.seed);
  const k = Math.min(n - 1, Math.floor(3 * s.perplexity + 1));
  const { nb, pCond } = yield* affinitySteps(exec, dm, data, n, dim, k, s.perplexity, (done, total) => {
    if (done === total || done % Math.max(1, Math.floor(total / 20)) === 0) rep.progress("tsne-neighbours", done, total);
  });
  const P = symmetrize(nb, pCond, n);
  const Zbh = yield* optimiseSteps(exec, P, Y, {
    iterations: s.iterations,
    exaggeration: EARLY_EXAGGERATION,
    exaggerationIterations: Math.min(250, Math.floor(s.iterations / 2)),
    learningRate: s.learningRate,
    theta: THETA,
    onIteration: (it) => {
      if (it % 50 === 0 || it === s.iterations) rep.progress("tsne", it, s.iterations);
    },
  });
  const kl = klDivergence(P, Y, n <= EXACT_Z_MAX_POINTS ? undefined : Zbh);
  rep.log(`[t-SNE] KL divergence after ${s.iterations} iterations: ${kl.toFixed(6)}`);
  return { coords: Float32Array.from(Y), kl, method: "barnes-hut", perplexity: s.perplexity };
}

/** Above this many points the final KL uses the Barnes-Hut estimate of Z instead of the O(n^2) sum. */
const EXACT_Z_MAX_POINTS = 30_000;

/** KL(P || Q) over the non-zeros of P; Z is computed exactly unless given. */
export function klDivergence(P: SparseP, Y: Float64Array | Float32Array, Z?: number): number {
  const n = P.n;
  let z = Z ?? 0;
  if (Z === undefined) {
    for (let i = 0; i < n; i++) {
      const x = Y[2 * i], y = Y[2 * i + 1];
      for (let j = i + 1; j < n; j++) {
        const dx = x - Y[2 * j], dy = y - Y[2 * j + 1];
        z += 2 / (1 + dx * dx + dy * dy);
      }
    }
  }
  let kl = 0;
  for (let i = 0; i < n; i++) {
    for (let e = P.rowStart[i]; e < P.rowStart[i + 1]; e++) {
      const j = P.cols[e];
      const p = P.vals[e];
      if (p <= 0) continue;
      const dx = Y[2 * i] - Y[2 * j], dy = Y[2 * i + 1] - Y[2 * j + 1];
      const q = 1 / (1 + dx * dx + dy * dy) / z;
      kl += p * Math.log(Math.max(p, Number.EPSILON) / Math.max(q, Number.EPSILON));
    }
  }
  return kl;
}

interface TsneJsModel {
  init(opts: { data: number[][]; type: "dense" }): void;
  run(): [number, number];
  getOutput(): number[][];
  outputEmbedding: { data: Float64Array };
  on(event: string, cb: (x: unknown) => void): void;
}

function exactTsne(data: Float32Array, n: number, dim: number, s: Settings, rep: ReturnType<typeof reporterOf>): TsneResult {
  const Y0 = s.init === "pca" ? pcaInit(data, n, dim) : randomInit(n, s.seed);
  // Required lazily: only the exact path needs it, and its ndarray dependencies cost load time.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const TSNE = require("tsne-js") as new (config: Record<string, unknown>) => TsneJsModel;
  const model = new TSNE({
    dim: 2,
    perplexity: s.perplexity,
    earlyExaggeration: EARLY_EXAGGERATION,
    learningRate: s.learningRate,
    nIter: s.iterations,
    metric: "euclidean",
  });
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) rows.push(Array.from(data.subarray(i * dim, (i + 1) * dim)));
  model.init({ data: rows, type: "dense" });
  model.outputEmbedding.data.set(Y0); // our seeded start instead of tsne-js's Math.random one
  model.on("progressIter", (x) => {
    const it = (x as number[])[0] + 1;
    if (it % 50 === 0) rep.progress("tsne", Math.min(it, s.iterations), s.iterations);
  });
  const [error, iter] = model.run();
  rep.progress("tsne", s.iterations, s.iterations);
  rep.log(`[t-SNE] exact: KL divergence ${error.toFixed(6)} after ${iter} iterations (tsne-js stops early once the error settles)`);
  const out = model.getOutput();
  const coords = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    coords[2 * i] = out[i][0];
    coords[2 * i + 1] = out[i][1];
  }
  return { coords, kl: error, method: "exact", perplexity: s.perplexity };
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
