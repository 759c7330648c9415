import { test } from "node:test";
import * as assert from "node:assert/strict";
import { classCodes } from "../lib/learn/data";
import { DEFAULT_PAIR_MIX, normalizedDistances, pairCounts, PAIR_KINDS, samplePairs, veryCloseThreshold, type Pair } from "../lib/learn/pairs";
import { clusters } from "./learn.fixtures";

const set = clusters(12, 4, 16, 1, { noise: 1.2 });
const { codes } = classCodes(set.m, set.labels);
const dist = normalizedDistances(set.m);
const n = set.m.ids.length;

function countKinds(pairs: Pair[]) {
  const c: Record<string, number> = {};
  for (const p of pairs) c[p.kind] = (c[p.kind] ?? 0) + 1;
  return c;
}

test("the default mix is 25% easy, 25% difficult (15% hard negatives + 10% hard positives), 50% random, exactly", () => {
  assert.deepEqual({ ...DEFAULT_PAIR_MIX }, { easy: 0.25, "hard-negative": 0.15, "hard-positive": 0.1, random: 0.5 });
  const pairs = samplePairs(set.m, codes, { count: 1000, seed: 5 }, dist);
  assert.equal(pairs.length, 1000);
  assert.deepEqual(countKinds(pairs), { easy: 250, "hard-negative": 150, "hard-positive": 100, random: 500 });
  const easy = pairs.filter((p) => p.kind === "easy").length;
  const difficult = pairs.filter((p) => p.kind === "hard-negative" || p.kind === "hard-positive").length;
  assert.equal(easy / difficult, 1, "easy : difficult = 1 : 1");
});

test("a custom mix is honoured and rounding remainders go to the largest share", () => {
  assert.deepEqual(pairCounts(7, { easy: 0.5, "hard-negative": 0.25, "hard-positive": 0.25, random: 0 }), { easy: 3, "hard-negative": 2, "hard-positive": 2, random: 0 });
  const pairs = samplePairs(set.m, codes, { count: 333, mix: { easy: 0.7, "hard-negative": 0.3, "hard-positive": 0, random: 0 } }, dist);
  assert.deepEqual(countKinds(pairs), { easy: 233, "hard-negative": 100 });
  assert.throws(() => samplePairs(set.m, codes, { mix: { easy: 0.9 } }), /Expected fractions summing to 1 for mix but received "a sum of 1.65"/);
});

test("every pair satisfies the definition of its kind", () => {
  const veryClose = veryCloseThreshold(dist, n, 0.01);
  const pairs = samplePairs(set.m, codes, { count: 2000, seed: 9 }, dist);
  for (const { i, j, kind } of pairs) {
    assert.notEqual(i, j);
    const d = dist[i * n + j];
    const same = [...Array(n).keys()].filter((x) => x !== i && codes[x] === codes[i]).map((x) => dist[i * n + x]).sort((a, b) => a - b);
    const other = [...Array(n).keys()].filter((x) => codes[x] !== codes[i]).map((x) => dist[i * n + x]).sort((a, b) => a - b);
    const medianSame = same[Math.ceil(same.length / 2) - 1]; // farthest of the nearer half
    const closeNeg = other[Math.round(other.length * 0.1) - 1]; // farthest of the nearest 10%
    if (kind === "easy") assert.ok((codes[i] === codes[j] && d <= medianSame) || d <= veryClose, `easy pair ${i},${j}`);
    if (kind === "hard-positive") assert.ok(codes[i] === codes[j] && d >= medianSame, `hard positive ${i},${j}`);
    if (kind === "hard-negative") assert.ok(codes[i] !== codes[j] && d <= closeNeg && d > veryClose, `hard negative ${i},${j}`);
  }
  // hard negatives are much closer than random different-class pairs, hard positives farther than easy positives
  const mean = (k: string, f: (p: Pair) => boolean = () => true) => {
    const sel = pairs.filter((p) => p.kind === k && f(p));
    return sel.reduce((s, p) => s + dist[p.i * n + p.j], 0) / sel.length;
  };
  assert.ok(mean("hard-negative") < mean("random", (p) => codes[p.i] !== codes[p.j]));
  assert.ok(mean("hard-positive") > mean("easy", (p) => codes[p.i] === codes[p.j]));
});

test("sampling is seeded, and a kind without candidates gives its quota to random", () => {
  assert.deepEqual(samplePairs(set.m, codes, { count: 50, seed: 1 }, dist), samplePairs(set.m, codes, { count: 50, seed: 1 }, dist));
  // one image per class: no same-class pair exists
  const singles = clusters(1, 6, 8, 3);
  const pairs = samplePairs(singles.m, classCodes(singles.m, singles.labels).codes, { count: 100, veryClose: 0 });
  const c = countKinds(pairs);
  assert.equal(pairs.length, 100);
  assert.equal(c["hard-positive"] ?? 0, 0);
  assert.equal(c.easy ?? 0, 0);
  assert.equal(c["hard-negative"], 15);
  assert.equal(c.random, 85);
  assert.ok(PAIR_KINDS.includes("random"));
});
