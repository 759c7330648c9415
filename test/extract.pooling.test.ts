import { test } from "node:test";
import assert from "node:assert/strict";
import { poolFeatures, pooledDim, POOLINGS } from "../lib/extract/pooling/index";

// one image of shape [1, 2, 2]: two spatial positions, two channels: p0 = [1, 4], p1 = [3, 0]
const one = Float32Array.from([1, 4, 3, 0]);

const close = (a: ArrayLike<number>, b: number[], eps = 1e-5) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) < eps, `[${i}] ${a[i]} vs ${b[i]}`);
};

test("gap, gmp, gem and flatten on a hand-computed 1x2x2 output", () => {
  close(poolFeatures(one, 1, [1, 2, 2], "gap"), [2, 2]);
  close(poolFeatures(one, 1, [1, 2, 2], "gmp"), [3, 4]);
  close(poolFeatures(one, 1, [1, 2, 2], "gem", { gemP: 2 }), [Math.sqrt(5), Math.sqrt(8)]);
  close(poolFeatures(one, 1, [1, 2, 2], "gem", { gemP: 1 }), [2, 2]);
  close(poolFeatures(one, 1, [1, 2, 2], "flatten"), [1, 4, 3, 0]);
});

test("images are pooled independently and in order", () => {
  const two = Float32Array.from([1, 4, 3, 0, 10, 20, 30, 40]);
  close(poolFeatures(two, 2, [2, 1, 2], "gap"), [2, 2, 20, 30]);
  close(poolFeatures(two, 2, [2, 1, 2], "gmp"), [3, 4, 30, 40]);
});

test("rank-1 outputs pass through whatever the pooling", () => {
  const v = Float32Array.from([0.5, -1, 2, 7, 8, 9]);
  for (const p of POOLINGS) {
    close(poolFeatures(v, 2, [3], p), [0.5, -1, 2, 7, 8, 9]);
    assert.equal(pooledDim([3], p), 3);
  }
});

test("pooledDim: channels for pooling, all values for flatten", () => {
  assert.equal(pooledDim([7, 7, 1280], "gap"), 1280);
  assert.equal(pooledDim([7, 7, 1280], "gem"), 1280);
  assert.equal(pooledDim([7, 7, 1280], "flatten"), 62720);
});

test("GeM never yields NaN on negative activations", () => {
  const out = poolFeatures(Float32Array.from([-1, -2, -3, -4]), 1, [2, 2], "gem");
  for (const x of out) assert.ok(Number.isFinite(x));
});

test("bad inputs are rejected with the option message", () => {
  assert.throws(() => poolFeatures(one, 1, [1, 2, 2], "avg" as never), /Expected one of flatten, gap, gmp, gem for pooling but received "avg"/);
  assert.throws(() => poolFeatures(one, 2, [1, 2, 2], "gap"), /out.length/);
  assert.throws(() => poolFeatures(one, 1, [1, 2, 2], "gem", { gemP: 0.5 }), /gemP/);
});
