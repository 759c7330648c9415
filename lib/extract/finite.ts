/**
 * Feature rows that are not finite. A network with damaged or mis-scaled weights can give NaN or Infinity
 * for one image; such a row cannot be normalised, encoded or ranked (every comparison with NaN is false),
 * so the extractor skips the image with a warning instead of letting it poison a ranking or an index.
 */

/** Indices of the rows holding NaN or ±Infinity: they cannot be encoded or ranked, the indexer skips them. */
export function findBadRows(data: Float32Array, n: number, d: number): number[] {
  const bad: number[] = [];
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let s = 0;
    // x - x is 0 for finite x and NaN for NaN or ±Infinity, so one sum checks the row
    for (let k = 0; k < d; k++) s += data[o + k] - data[o + k];
    if (s !== 0) bad.push(i);
  }
  return bad;
}
