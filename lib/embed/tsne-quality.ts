/**
 * How faithful a 2-D map is to its input, to compare t-SNE runs and methods: trustworthiness (as
 * scikit-learn's sklearn.manifold.trustworthiness) and the share of k nearest neighbours kept.
 * Both are O(n^2 log n): meant for a few thousand points at most.
 */

function sqDist(a: ArrayLike<number>, oa: number, b: ArrayLike<number>, ob: number, dim: number): number {
  let s = 0;
  for (let t = 0; t < dim; t++) {
    const d = a[oa + t] - b[ob + t];
    s += d * d;
  }
  return s;
}

/** Indices of all other points ordered by distance from point i (ties by index). */
function ranking(x: ArrayLike<number>, n: number, dim: number, i: number): number[] {
  const d = new Float64Array(n);
  for (let j = 0; j < n; j++) d[j] = sqDist(x, i * dim, x, j * dim, dim);
  const order: number[] = [];
  for (let j = 0; j < n; j++) if (j !== i) order.push(j);
  return order.sort((a, b) => d[a] - d[b] || a - b);
}

/**
 * Trustworthiness in [0, 1]: 1 when every point's k nearest neighbours in the map are also among its
 * k nearest in the input; map neighbours that are far in the input are penalised by their input rank.
 */
export function trustworthiness(data: ArrayLike<number>, n: number, dim: number, coords: ArrayLike<number>, k = 5): number {
  if (k >= n / 2) throw new RangeError(`trustworthiness needs k < n / 2 (k = ${k}, n = ${n})`);
  let penalty = 0;
  const inputRank = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const inOrder = ranking(data, n, dim, i);
    inOrder.forEach((j, r) => (inputRank[j] = r + 1));
    const mapOrder = ranking(coords, n, 2, i);
    for (let t = 0; t < k; t++) penalty += Math.max(0, inputRank[mapOrder[t]] - k);
  }
  return 1 - (2 / (n * k * (2 * n - 3 * k - 1))) * penalty;
}

/** Mean share of each point's k nearest input neighbours that are also among its k nearest in the map. */
export function neighbourPreservation(data: ArrayLike<number>, n: number, dim: number, coords: ArrayLike<number>, k = 10): number {
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const a = new Set(ranking(data, n, dim, i).slice(0, k));
    for (const j of ranking(coords, n, 2, i).slice(0, k)) if (a.has(j)) kept++;
  }
  return kept / (n * k);
}

/** Share of points whose nearest map neighbour has the same label (how well classes separate). */
export function labelAgreement(coords: ArrayLike<number>, labels: readonly string[]): number {
  const n = labels.length;
  let same = 0;
  for (let i = 0; i < n; i++) {
    let best = -1, bestD = Infinity;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const d = sqDist(coords, 2 * i, coords, 2 * j, 2);
      if (d < bestD) {
        bestD = d;
        best = j;
      }
    }
    if (best >= 0 && labels[best] === labels[i]) same++;
  }
  return n ? same / n : 0;
}
