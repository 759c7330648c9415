import { test } from "node:test";
import assert from "node:assert/strict";
import { tsne, trustworthiness, labelAgreement, klDivergence, type TsneResult } from "../lib/embed/index";
import { PARALLEL_MIN_POINTS } from "../lib/embed/tsne";
import { affinitySteps, conditionalP, nearestNeighbours, symmetrize } from "../lib/embed/tsne-affinity";
import { createDotKernel } from "../lib/simd/dots";
import { pcaInit, pcaSteps } from "../lib/embed/tsne-init";
import { OP, emptyKernelState, tsneRepulsion } from "../lib/embed/tsne-kernels";
import { LocalExecutor, TsneWorkerPool, runSteps, tsneThreads, tsneWorkersAlive } from "../lib/embed/tsne-pool";
import { QuadTree } from "../lib/embed/tsne-quadtree";
import type { Notice } from "../lib/report";
import { blobs } from "./plot.fixtures";

test("the exact (tsne-js) and Barnes-Hut paths agree in quality on a small labelled set", async () => {
  const n = 72, dim = 16;
  const { data, labels } = blobs(n, dim, 4, 11);
  const exact = await tsne(data, n, dim, { method: "exact", perplexity: 15, iterations: 500, seed: 3 });
  const bh = await tsne(data, n, dim, { method: "barnes-hut", perplexity: 15, iterations: 500, seed: 3 });
  assert.equal(exact.method, "exact");
  assert.equal(bh.method, "barnes-hut");
  const tExact = trustworthiness(data, n, dim, exact.coords, 5);
  const tBh = trustworthiness(data, n, dim, bh.coords, 5);
  assert.ok(tExact > 0.9, `exact trustworthiness ${tExact}`);
  assert.ok(tBh > 0.9, `Barnes-Hut trustworthiness ${tBh}`);
  assert.ok(Math.abs(tExact - tBh) < 0.05, `${tExact} vs ${tBh}`);
  assert.equal(labelAgreement(exact.coords, labels), 1);
  assert.equal(labelAgreement(bh.coords, labels), 1);
  assert.ok(exact.kl >= 0 && bh.kl >= 0);
});

test("same seed, same map; another seed with random init, another map (both paths)", async () => {
  const n = 40, dim = 8;
  const { data } = blobs(n, dim, 3, 5);
  const same = (a: TsneResult, b: TsneResult) => a.coords.every((v, i) => v === b.coords[i]);
  for (const method of ["barnes-hut", "exact"] as const) {
    const a = await tsne(data, n, dim, { method, iterations: 300, seed: 7, init: "random" });
    const b = await tsne(data, n, dim, { method, iterations: 300, seed: 7, init: "random" });
    const c = await tsne(data, n, dim, { method, iterations: 300, seed: 8, init: "random" });
    assert.ok(same(a, b), `${method}: identical with the same seed`);
    assert.equal(a.kl, b.kl);
    assert.ok(!same(a, c), `${method}: different with another seed`);
  }
});

test("auto picks exact for small collections and Barnes-Hut above 100 points", async () => {
  const small = blobs(30, 4, 3, 1);
  const big = blobs(130, 4, 3, 1);
  assert.equal((await tsne(small.data, 30, 4, { iterations: 100 })).method, "exact");
  const r = await tsne(big.data, 130, 4, { iterations: 300 });
  assert.equal(r.method, "barnes-hut");
  assert.equal(r.coords.length, 260);
  assert.ok(r.coords.every(Number.isFinite));
});

test("perplexity is clamped to (n - 1) / 3 with a notice", async () => {
  const notices: Notice[] = [];
  const { data } = blobs(22, 5, 2, 2);
  const r = await tsne(data, 22, 5, { method: "barnes-hut", iterations: 100, reporter: { notice: (x) => notices.push(x) } });
  assert.equal(r.perplexity, 7);
  assert.equal(notices.length, 1);
  assert.match(notices[0].message, /perplexity 30 is too large for 22 points; using 7/);
});

test("tiny inputs and bad inputs", async () => {
  assert.deepEqual(Array.from((await tsne(new Float32Array([1, 2]), 1, 2)).coords), [0, 0]);
  assert.equal((await tsne(new Float32Array(4), 2, 2)).coords.length, 4);
  await assert.rejects(tsne(new Float32Array(10), 3, 4), { code: "E_BAD_OPTION", message: /holds 10 values but n \* dim = 12/ });
  await assert.rejects(tsne(new Float32Array([0, 1, NaN, 1, 0, 0]), 3, 2), { message: /row 1 holds NaN/ });
  await assert.rejects(tsne(new Float32Array(6), 3, 2, { method: "fast" as "exact" }), {
    message: 'Expected one of auto, exact, barnes-hut for method but received "fast" of type string',
  });
  await assert.rejects(tsne(new Float32Array(6), 3, 2, { iterations: 10 }), { message: /integer between 50 and 100000 for iterations/ });
});

test("coincident points do not break the Barnes-Hut quadtree", async () => {
  const n = 120, dim = 3;
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) data[i * dim] = i < 60 ? 0 : 5; // two groups of 60 identical points
  const r = await tsne(data, n, dim, { method: "barnes-hut", iterations: 200 });
  assert.ok(r.coords.every(Number.isFinite));
  assert.ok(Number.isFinite(r.kl));
});

test("neighbour search: the SIMD kernel and the JavaScript loop both find the true neighbours", () => {
  const n = 37, dim = 13, k = 6; // sizes that are not multiples of 4 exercise the padding
  const { data } = blobs(n, dim, 3, 9);
  const nb = nearestNeighbours(data, n, dim, k);
  const exec = new LocalExecutor();
  const js = runSteps(affinitySteps(exec, undefined, data, n, dim, k, undefined), exec).nb; // no SIMD kernel
  assert.deepEqual(js.index, nb.index);
  for (let i = 0; i < n; i++) {
    const d = Array.from({ length: n }, (_, j) => {
      let s = 0;
      for (let t = 0; t < dim; t++) s += (data[i * dim + t] - data[j * dim + t]) ** 2;
      return { j, s };
    }).filter((x) => x.j !== i);
    d.sort((a, b) => a.s - b.s);
    assert.deepEqual(Array.from(nb.index.subarray(i * k, (i + 1) * k)), d.slice(0, k).map((x) => x.j), `row ${i}`);
    for (let t = 0; t < k; t++) assert.ok(Math.abs(nb.dist2[i * k + t] - d[t].s) < 1e-3 * (1 + d[t].s));
  }
  const kernel = createDotKernel(data, n, dim, 4);
  assert.ok(kernel, "WebAssembly SIMD is available on Node 20");
  const dots = kernel.rowDots(5, 8, 2);
  for (let j = 8; j < 16; j++) {
    let s = 0;
    for (let t = 0; t < dim; t++) s += data[5 * dim + t] * data[j * dim + t];
    assert.ok(Math.abs(dots[j - 8] - s) < 1e-4 * (1 + Math.abs(s)));
  }
});

test("affinities: each conditional row reaches the perplexity, and P is symmetric and sums to 1", async () => {
  const n = 50, dim = 6, perplexity = 8;
  const { data } = blobs(n, dim, 2, 4);
  const nb = nearestNeighbours(data, n, dim, 25);
  const Pc = conditionalP(nb, n, perplexity);
  for (let i = 0; i < n; i++) {
    let h = 0;
    for (let t = 0; t < 25; t++) {
      const p = Pc[i * 25 + t];
      if (p > 0) h -= p * Math.log(p);
    }
    assert.ok(Math.abs(Math.exp(h) - perplexity) < 1e-3, `row ${i} perplexity ${Math.exp(h)}`);
  }
  const P = symmetrize(nb, Pc, n);
  let sum = 0;
  const at = (i: number, j: number) => {
    for (let e = P.rowStart[i]; e < P.rowStart[i + 1]; e++) if (P.cols[e] === j) return P.vals[e];
    return 0;
  };
  for (let i = 0; i < n; i++) {
    for (let e = P.rowStart[i]; e < P.rowStart[i + 1]; e++) {
      sum += P.vals[e];
      assert.equal(P.vals[e], at(P.cols[e], i));
    }
  }
  assert.ok(Math.abs(sum - 1) < 1e-9);
  // KL of a map that keeps the blobs apart is lower than that of a random layout
  const good = await tsne(data, n, dim, { method: "barnes-hut", perplexity, iterations: 300 });
  const rand = Float32Array.from({ length: 2 * n }, (_, i) => Math.sin(i * 12.9898) * 10);
  assert.ok(klDivergence(P, good.coords) < klDivergence(P, rand));
});

test("PCA start layout follows the direction of largest variance", () => {
  const n = 200, dim = 10;
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const s = (i / n - 0.5) * 20;
    for (let t = 0; t < dim; t++) data[i * dim + t] = (t === 3 ? s : 0) + Math.sin(i * 7 + t) * 0.1;
  }
  const y = pcaInit(data, n, dim);
  let corr = 0;
  for (let i = 0; i < n; i++) corr += y[2 * i] * ((i / n - 0.5) * 20);
  assert.ok(Math.abs(corr) > 0, "first component carries the spread");
  // scaled as scikit-learn: std of the first coordinate 1e-4, monotone in the source coordinate
  let ok = 0;
  for (let i = 1; i < n; i++) if (Math.sign(y[2 * i] - y[2 * i - 2]) === Math.sign(corr)) ok++;
  assert.ok(ok > n * 0.95);
  const std = Math.sqrt(Array.from({ length: n }, (_, i) => y[2 * i] ** 2).reduce((a, b) => a + b) / n);
  assert.ok(Math.abs(std - 1e-4) < 1e-6);
  // the Barnes-Hut path's subspace iteration (pcaSteps) finds the same layout as reduce/'s exact PCA, same signs
  const exec = new LocalExecutor();
  const z = runSteps(pcaSteps(exec, data, dim, n, dim, 0), exec);
  for (let t = 0; t < 2 * n; t += 2) assert.ok(Math.abs(z[t] - y[t]) < 1e-8, `row ${t / 2}: ${z[t]} vs ${y[t]}`);
});

test("tsne on 2 and 3 threads gives the 1-thread map bit for bit, and stops its workers", async () => {
  const n = PARALLEL_MIN_POINTS, dim = 12, clusters = 5;
  const { data, labels } = blobs(n, dim, clusters, 21);
  // exact duplicates (same label): neighbour ties must be broken the same way whatever the thread count
  for (let i = 0; i + clusters < n; i += 97) data.copyWithin((i + clusters) * dim, i * dim, (i + 1) * dim);
  const opts = { method: "barnes-hut", iterations: 150, seed: 4 } as const;
  const one = await tsne(data, n, dim, { ...opts, threads: 1 });
  const logs: string[] = [];
  const two = await tsne(data, n, dim, { ...opts, threads: 2, reporter: { log: (l) => logs.push(l) } });
  assert.ok(logs.includes("[t-SNE] 2 threads"), "the pool ran");
  assert.equal(tsneWorkersAlive(), 0, "workers terminated");
  const three = await tsne(data, n, dim, { ...opts, threads: 3 });
  const again = await tsne(data, n, dim, { ...opts, threads: 2 });
  assert.equal(tsneWorkersAlive(), 0);
  for (const [name, r] of [["2 threads", two], ["3 threads", three], ["2 threads again", again]] as const) {
    assert.ok(r.coords.every((v, i) => v === one.coords[i]), `${name}: same coordinates as 1 thread`);
    assert.equal(r.kl, one.kl, name);
  }
  assert.ok(one.coords.every(Number.isFinite));
  assert.ok(labelAgreement(two.coords, labels) > 0.95, "the clusters separate");
  // below the threshold, tsne stays on the calling thread with the same result
  const small = blobs(150, 6, 3, 2).data;
  const s1 = await tsne(small, 150, 6, { iterations: 100, threads: 1 });
  const s2 = await tsne(small, 150, 6, { iterations: 100, threads: 2 });
  assert.ok(s2.coords.every((v, i) => v === s1.coords[i]));
});

test("thread count: option, CBIR_TSNE_THREADS, validation", async () => {
  assert.equal(tsneThreads(3), 3);
  const saved = process.env.CBIR_TSNE_THREADS;
  try {
    process.env.CBIR_TSNE_THREADS = "1";
    assert.equal(tsneThreads(), 1);
    process.env.CBIR_TSNE_THREADS = "two";
    assert.throws(() => tsneThreads(), { message: 'Expected integer from 1 to 64 for CBIR_TSNE_THREADS but received "two" of type string' });
  } finally {
    if (saved === undefined) delete process.env.CBIR_TSNE_THREADS;
    else process.env.CBIR_TSNE_THREADS = saved;
  }
  await assert.rejects(tsne(new Float32Array(6), 3, 2, { threads: 0 }), { message: "Expected integer from 1 to 64 for threads but received 0 of type number" });
});

test("a worker that throws or dies rejects the run instead of hanging; close() terminates the workers", async () => {
  const pool = new TsneWorkerPool(3);
  try {
    pool.begin(OP.fail);
    await assert.rejects(pool.join(), /t-SNE worker \d: injected failure/);
  } finally {
    await pool.close();
  }
  assert.equal(pool.liveWorkers, 0);

  const pool2 = new TsneWorkerPool(2);
  try {
    pool2.bind({ n: 0, forceChunk: 1 });
    pool2.begin(OP.forces);
    pool2.treeReady();
    await pool2.join(); // a round trip with nothing to do
    // Now the worker waits for a tree that never comes (the calling thread gets no items) and is killed.
    pool2.bind({ n: 4 });
    const internals = pool2 as unknown as { S: { n: number }; workers: { terminate(): Promise<number> }[] };
    internals.S.n = 0;
    setTimeout(() => void internals.workers[0].terminate(), 30);
    pool2.begin(OP.forces);
    await assert.rejects(pool2.join(), /t-SNE worker 1 exited/);
    assert.throws(() => pool2.begin(OP.forces), /t-SNE worker 1 exited/);
  } finally {
    await pool2.close();
  }
  assert.equal(tsneWorkersAlive(), 0);
});

test("quadtree: with theta = 0 the repulsion equals the exact O(n^2) sums; duplicates add no force", () => {
  const n = 300;
  const Y = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    Y[2 * i] = Math.sin(i * 1.7) * (i % 3) * 10;
    Y[2 * i + 1] = Math.cos(i * 2.3) * 5;
  }
  Y.copyWithin(20, 10, 12); // point 10 = point 5
  Y.copyWithin(22, 10, 12); // and point 11
  const tree = new QuadTree(n, new LocalExecutor());
  tree.build(Y);
  assert.deepEqual(Array.from(tree.order).sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
  const S = emptyKernelState(0, 1);
  const negF = new Float64Array(2 * n);
  Object.assign(S, { n, Y, packed: tree.packed, child: tree.child, order: tree.order, negF, theta2: 0, stack: new Int32Array(3 * tree.size + 4) });
  const Z = tsneRepulsion(S, 0, n);
  let zExact = 0;
  for (let i = 0; i < n; i++) {
    let fx = 0, fy = 0;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const dx = Y[2 * i] - Y[2 * j], dy = Y[2 * i + 1] - Y[2 * j + 1];
      const q = 1 / (1 + dx * dx + dy * dy);
      zExact += q;
      fx += q * q * dx;
      fy += q * q * dy;
    }
    assert.ok(Math.abs(negF[2 * i] - fx) < 1e-9 && Math.abs(negF[2 * i + 1] - fy) < 1e-9, `point ${i}`);
  }
  assert.ok(Math.abs(Z - zExact) < 1e-8 * zExact, `${Z} vs ${zExact}`);
  // theta 0.5 approximates the same sums closely
  Object.assign(S, { theta2: 0.25 });
  const Zbh = tsneRepulsion(S, 0, n);
  assert.ok(Math.abs(Zbh - zExact) < 0.01 * zExact, `${Zbh} vs ${zExact}`);
});
