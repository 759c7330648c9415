/**
 * The blocked all-pairs loop that every vector ranking runs through (the exact engine, exact.ts: `cbir
 * eval`, the demo, the stores). Queries are scored against the whole database one block of rows at a time; each
 * score row is handed to the consumers (top-k selection, the neighbours of query expansion, average
 * precision over the full ranking) and then dropped. Memory is one block (batch x database scores) plus
 * what the consumers keep, O(n k) for top-k lists: no n x n ranking or score matrix is ever held.
 *
 * The dot products come from a `DotKernel`: the register-blocked JS loop (synchronous) or ONNX Runtime's
 * Gemm (asynchronous). The loop stays synchronous when its kernel is, so the engine's JS strategy can be.
 * Other kernels plug in here without touching the loop or its consumers: encoded-kernel.ts scores f16 / i8
 * codes of the prepared rows. With approximate dots, refine (RefinePass) re-scores each query's best
 * r x k candidates with exact float32 dot products of the prepared rows before the consumers see the row.
 */
import { CbirError, invalidOption } from "../errors";
import type { FeatureMatrix, Hit, Ranking } from "../types";
import { dotBlock } from "./kernel";
import { dataRange, higherIsBetter, type Metric, type RowStats, type ScoreContext, type VectorMetric } from "./metrics/index";
import type { OnnxDotProduct } from "./onnx-gemm";
import { topK } from "./topk";

export type MaybePromise<T> = T | Promise<T>;

/** `f(x)`, at once when `x` is a value, after it resolves when it is a promise. */
export function then<T, U>(x: MaybePromise<T>, f: (v: T) => MaybePromise<U>): MaybePromise<U> {
  return x instanceof Promise ? x.then(f) : f(x);
}

/**
 * nQ x nDb dot products of row-major `q` (nQ x d) and `db` (nDb x d), row i at [i * nDb]. The result is
 * read before the next call, so a kernel may reuse one buffer. A kernel may keep its own encoding of a
 * database it sees again (the same `db` array) instead of reading the float32 rows.
 */
export interface DotKernel {
  readonly name: string;
  dots(q: Float32Array, nQ: number, db: Float32Array, nDb: number, d: number): MaybePromise<Float32Array>;
}

/** The JS kernel (kernel.ts), with one reused output buffer. */
export function jsDotKernel(): DotKernel {
  let buf = new Float32Array(0);
  return {
    name: "js",
    dots(q, nQ, db, nDb, d) {
      if (buf.length < nQ * nDb) buf = new Float32Array(nQ * nDb);
      const out = buf.subarray(0, nQ * nDb);
      dotBlock(q, nQ, db, nDb, d, out);
      return out;
    },
  };
}

/** ONNX Runtime's Gemm through an open session (onnx-gemm.ts). */
export function onnxDotKernel(session: OnnxDotProduct): DotKernel {
  return { name: "onnx", dots: (q, nQ, db, nDb) => session.dots(q, nQ, db, nDb) };
}

export interface ScoreInput {
  db: RowStats;
  q: RowStats;
  nDb: number;
  nQ: number;
  d: number;
  metric: VectorMetric;
  range: number;
}

/** Validates and prepares both sides of a scoring pass. */
export function prepareSearch(db: FeatureMatrix, queries: FeatureMatrix, metric: VectorMetric, range?: number, preparedDb?: RowStats): ScoreInput {
  const d = db.dim;
  if (queries.dim !== d) throw invalidOption("query dimension", `${d} (the database's)`, queries.dim);
  const dbStats = preparedDb ?? metric.prepare(db.data, db.ids.length, d);
  const qStats = queries === db ? dbStats : metric.prepare(queries.data, queries.ids.length, d);
  return { db: dbStats, q: qStats, nDb: db.ids.length, nQ: queries.ids.length, d, metric, range: range ?? dataRange(db.data) };
}

/**
 * Refine of one pass over approximate dots: each query's best `factor x hits` database rows by the kernel's
 * scores are re-scored with exact float32 dot products of the prepared rows (summed in order, as the JS
 * kernel does: the same bits as an f32 run) and the metric's finishing, FAISS's IndexRefine inside the loop.
 */
export interface RefinePass {
  /** r: candidates per kept hit (> 1; 1 is no refine pass at all). */
  factor: number;
  /** Hits this pass keeps per query (k for the ranking, n for the neighbours of query expansion). */
  hits: number;
  /** Query i skips database row i. */
  leaveOneOut: boolean;
}

/** The refine pass of a pass keeping `hits`, or none when `factor` is 1 (off). */
export function refinePass(factor: number | undefined, hits: number, leaveOneOut: boolean): RefinePass | undefined {
  return factor !== undefined && factor > 1 ? { factor, hits, leaveOneOut } : undefined;
}

/** Rows `rows` of prepared rows, in the order asked: from `data`, or read on demand (RowStats.read). */
export function preparedRows(stats: RowStats, rows: Int32Array, d: number): MaybePromise<Float32Array> {
  if (!stats.read) {
    const out = new Float32Array(rows.length * d);
    rows.forEach((r, i) => out.set(stats.data.subarray(r * d, (r + 1) * d), i * d));
    return out;
  }
  return then(stats.read(rows), (x) => {
    if (x.length !== rows.length * d) throw new CbirError("E_INDEX_CORRUPT", `the row reader returned ${x.length} values for ${rows.length} rows of ${d}.`, { fix: "rebuild the index." });
    return x;
  });
}

/** The score context of query `qi` against database rows `cand` only (VectorMetric.finish on a candidate list). */
function candidateContext(ctx: ScoreContext, qi: number, cand: number[]): ScoreContext {
  const one = (a?: Float64Array) => a?.subarray(qi, qi + 1);
  const pick = (a?: Float64Array) => (a ? Float64Array.from(cand, (j) => a[j]) : undefined);
  const { q, db } = ctx;
  return {
    ...ctx,
    q: { data: q.data, sqnorm: one(q.sqnorm), mean: one(q.mean), variance: one(q.variance) },
    db: { data: db.data, sqnorm: pick(db.sqnorm), mean: pick(db.mean), variance: pick(db.variance) },
  };
}

/**
 * Writes the exact scores of the candidates into a query's score row and keeps the other rows' kernel
 * scores below every candidate (shifted by one constant when needed, so their order among themselves
 * stays): the row then ranks the refined candidates first, in exact order, then the rest in the kernel's
 * order, for every consumer (top-k, the neighbours of query expansion, AP over the full ranking).
 */
function placeRefined(row: Float32Array, cand: number[], exact: Float32Array, hib: boolean, skip: number, mark: Uint8Array): void {
  const sign = hib ? 1 : -1;
  let worst = Infinity;
  for (let t = 0; t < cand.length; t++) {
    mark[cand[t]] = 1;
    const v = sign * exact[t];
    if (v < worst) worst = v;
  }
  let bestRest = -Infinity;
  for (let j = 0; j < row.length; j++) if (!mark[j] && j !== skip && sign * row[j] > bestRest) bestRest = sign * row[j];
  const delta = bestRest - worst + Math.max(1, Math.abs(bestRest), Math.abs(worst));
  if (cand.length && bestRest >= worst && Number.isFinite(delta)) for (let j = 0; j < row.length; j++) if (!mark[j]) row[j] -= sign * delta;
  for (let t = 0; t < cand.length; t++) {
    row[cand[t]] = exact[t];
    mark[cand[t]] = 0;
  }
}

/** Refines the score rows of queries s..s+nb (finished kernel scores in `scores`, in place). */
function refineBlock(input: ScoreInput, ctx: ScoreContext, scores: Float32Array, s: number, nb: number, pass: RefinePass): MaybePromise<void> {
  const { nDb, d } = input;
  const hib = input.metric.higherIsBetter;
  const cands: number[][] = [];
  const slot = new Map<number, number>(); // database row -> its place among the rows read
  for (let i = 0; i < nb; i++) {
    const c = topK(scores.subarray(i * nDb, (i + 1) * nDb), pass.factor * pass.hits, hib, ownRow(pass.leaveOneOut, s + i));
    cands.push(c);
    for (const j of c) if (!slot.has(j)) slot.set(j, slot.size);
  }
  return then(preparedRows(input.db, Int32Array.from(slot.keys()), d), (x) => {
    const q = input.q.data;
    const mark = new Uint8Array(nDb);
    for (let i = 0; i < nb; i++) {
      const qi = s + i;
      const c = cands[i];
      const exact = new Float32Array(c.length);
      const qo = qi * d;
      for (let t = 0; t < c.length; t++) {
        const xo = slot.get(c[t])! * d;
        let v = 0;
        for (let k = 0; k < d; k++) v += q[qo + k] * x[xo + k];
        exact[t] = v;
      }
      ctx.metric.finish(candidateContext(ctx, qi, c), exact, 0, 1, c.length);
      placeRefined(scores.subarray(i * nDb, (i + 1) * nDb), c, exact, hib, ownRow(pass.leaveOneOut, qi), mark);
    }
  });
}

/**
 * The loop itself: scores `input` `batch` query rows at a time and hands each query's score row over the
 * database to `take` (query index, scores; the row is only valid during the call), refined first when
 * `refine` is given.
 */
export function forEachScoreRow(
  input: ScoreInput,
  kernel: DotKernel,
  batch: number,
  take: (qi: number, scores: Float32Array) => void,
  progress?: (done: number) => void,
  refine?: RefinePass,
): MaybePromise<void> {
  const { nQ, nDb, d } = input;
  const ctx: ScoreContext = { metric: input.metric, d, q: input.q, db: input.db, range: input.range };
  const emit = (s: number, nb: number, dots: Float32Array) => {
    for (let i = 0; i < nb; i++) take(s + i, dots.subarray(i * nDb, (i + 1) * nDb));
    progress?.(s + nb);
  };
  const finish = (s: number, nb: number, dots: Float32Array): MaybePromise<void> => {
    ctx.metric.finish(ctx, dots, s, nb, nDb);
    if (!refine) return emit(s, nb, dots);
    return then(refineBlock(input, ctx, dots, s, nb, refine), () => emit(s, nb, dots));
  };
  const from = (start: number): MaybePromise<void> => {
    for (let s = start; s < nQ; s += batch) {
      const nb = Math.min(batch, nQ - s);
      const dots = kernel.dots(input.q.data.subarray(s * d, (s + nb) * d), nb, input.db.data, nDb, d);
      if (dots instanceof Promise) return dots.then((v) => then(finish(s, nb, v), () => from(s + nb)));
      const done = finish(s, nb, dots);
      if (done instanceof Promise) return done.then(() => from(s + nb));
    }
  };
  return from(0);
}

export function toRanking(
  query: string,
  idx: number[],
  scores: Float32Array,
  ids: string[],
  metric: Metric,
  labels: Map<string, string> | undefined,
  queryLabel: string | undefined,
): Ranking {
  const hits: Hit[] = idx.map((j) => {
    const label = labels?.get(ids[j]);
    return label === undefined ? { id: ids[j], score: scores[j] } : { id: ids[j], score: scores[j], label };
  });
  const r: Ranking = { query, hits, metric, higherIsBetter: higherIsBetter(metric) };
  if (queryLabel !== undefined) r.queryLabel = queryLabel;
  return r;
}

export function checkK(k: number | undefined): number {
  const v = k ?? 10;
  if (!(v === Infinity || (Number.isInteger(v) && v >= 0))) throw invalidOption("k", "non-negative integer or Infinity", k);
  return v;
}

export function checkBatch(batch: number | undefined): number {
  const v = batch ?? 64;
  if (!Number.isInteger(v) || v < 1) throw invalidOption("batch", "positive integer", batch);
  return v;
}

/**
 * The leave-one-out convention, the one place it is spelled: with `leaveOneOut` the queries are the
 * database's own rows and query i never sees database row i. Returns the row query `qi` skips, -1 for none
 * (topK's `skip`).
 */
export function ownRow(leaveOneOut: boolean, qi: number): number {
  return leaveOneOut ? qi : -1;
}
