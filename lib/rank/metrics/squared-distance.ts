/** Row statistics shared by the metrics built on |a - b|² = |a|² + |b|² - 2 a·b. */
import { rowSquaredNorms } from "../kernel";
import type { RowStats } from "./types";

/** The rows themselves plus their squared norms. */
export function withSquaredNorms(data: Float32Array, n: number, d: number): RowStats {
  return { data, sqnorm: rowSquaredNorms(data, n, d) };
}
