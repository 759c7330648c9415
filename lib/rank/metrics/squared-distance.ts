/** Row statistics shared by the metrics built on |a - b|² = |a|² + |b|² - 2 a·b. */
import { rowSquaredNorms } from "../kernel";
import type { RowStats, ScoreContext } from "./types";

/** The rows themselves plus their squared norms. */
export function withSquaredNorms(data: Float32Array, n: number, d: number): RowStats {
  return { data, sqnorm: rowSquaredNorms(data, n, d) };
}

/**
 * Turns a block of dot products into squared distances, in place, then `as` maps each one: "squared" keeps
 * it, "sqrt" takes the root (euclidean), "round" rounds it (Hamming distance of 0/1 rows). The map is
 * applied to the double-precision value before it is stored, one loop per kind so the hot loop has no call.
 */
export function finishSquaredDistances(ctx: ScoreContext, dots: Float32Array, qStart: number, nQ: number, nDb: number, as: "squared" | "sqrt" | "round"): void {
  const qn = ctx.q.sqnorm!;
  const dn = ctx.db.sqnorm!;
  for (let i = 0; i < nQ; i++) {
    const q = qn[qStart + i];
    const o = i * nDb;
    if (as === "sqrt") for (let j = 0; j < nDb; j++) dots[o + j] = Math.sqrt(Math.max(0, q + dn[j] - 2 * dots[o + j]));
    else if (as === "round") for (let j = 0; j < nDb; j++) dots[o + j] = Math.round(Math.max(0, q + dn[j] - 2 * dots[o + j]));
    else for (let j = 0; j < nDb; j++) dots[o + j] = Math.max(0, q + dn[j] - 2 * dots[o + j]);
  }
}
