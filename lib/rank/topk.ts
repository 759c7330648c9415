/**
 * Selection of the k best scores. Ties are broken by the lower index, so rankings are reproducible and
 * independent of the kernel's traversal order.
 */
import { invalidOption } from "../errors";

/** Indices of the k best entries of `scores`, best first (k = Infinity: all, sorted). `skip` is excluded (self). */
export function topK(scores: Float32Array | Float64Array, k: number, higherIsBetter: boolean, skip = -1): number[] {
  if (!(k >= 0)) throw invalidOption("k", "non-negative integer or Infinity", k);
  const n = scores.length;
  const want = Math.min(k === Infinity ? n : Math.floor(k), n - (skip >= 0 && skip < n ? 1 : 0));
  if (want <= 0) return [];
  const sign = higherIsBetter ? 1 : -1;
  // a is better than b: higher signed score, or equal score and lower index
  const key = (i: number) => {
    const s = sign * scores[i];
    return s === s ? s : -Infinity; // NaN ranks last
  };
  const better = (a: number, b: number) => {
    const sa = key(a);
    const sb = key(b);
    return sa > sb || (sa === sb && a < b);
  };
  if (want * 8 >= n) {
    const idx: number[] = [];
    for (let i = 0; i < n; i++) if (i !== skip) idx.push(i);
    idx.sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
    return idx.slice(0, want);
  }
  // bounded min-heap of the current best `want` (root = worst kept)
  const heap: number[] = [];
  const worse = (a: number, b: number) => better(b, a);
  const up = (i: number) => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!worse(heap[i], heap[p])) break;
      [heap[i], heap[p]] = [heap[p], heap[i]];
      i = p;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let w = i;
      if (l < heap.length && worse(heap[l], heap[w])) w = l;
      if (r < heap.length && worse(heap[r], heap[w])) w = r;
      if (w === i) return;
      [heap[i], heap[w]] = [heap[w], heap[i]];
      i = w;
    }
  };
  // the root's key, cached: most entries of a long row are worse than it and cost one comparison
  let rootKey = -Infinity;
  for (let i = 0; i < n; i++) {
    if (i === skip) continue;
    if (heap.length < want) {
      heap.push(i);
      up(heap.length - 1);
      if (heap.length === want) rootKey = key(heap[0]);
      continue;
    }
    const s = sign * scores[i];
    if (s < rootKey || s !== s) {
      if (s === s || rootKey > -Infinity) continue; // NaN keys are -Infinity: they can only tie a -Infinity root
    }
    if (better(i, heap[0])) {
      heap[0] = i;
      down(0);
      rootKey = key(heap[0]);
    }
  }
  return heap.sort((a, b) => (better(a, b) ? -1 : 1));
}
