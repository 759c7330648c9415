import { test } from "node:test";
import * as assert from "node:assert/strict";
import { classCodes, labelMap, selectIds, selectRows, splitByClass } from "../lib/learn/data";
import { makeFingerprint } from "../lib/fingerprint";
import type { ImageItem } from "../lib/types";

const item = (name: string, label?: string): ImageItem => ({ path: `/db/${name}`, name, label });

test("splitByClass: first half of each class by sorted name for training, the rest for testing", () => {
  const items = [item("b/3.jpg", "b"), item("a/2.jpg", "a"), item("a/1.jpg", "a"), item("b/1.jpg", "b"), item("a/4.jpg", "a"), item("a/3.jpg", "a"), item("b/2.jpg", "b"), item("x.jpg")];
  const { train, test: held } = splitByClass(items);
  assert.deepEqual(train.map((i) => i.name), ["a/1.jpg", "a/2.jpg", "b/1.jpg", "b/2.jpg"]);
  assert.deepEqual(held.map((i) => i.name), ["a/3.jpg", "a/4.jpg", "b/3.jpg"]);
  assert.equal(new Set([...train, ...held].map((i) => i.name)).size, 7, "no image on both sides; unlabelled left out");
  // a class of two still gets one image on each side
  const two = splitByClass([item("c/1.jpg", "c"), item("c/2.jpg", "c")], 0.9);
  assert.equal(two.train.length, 1);
  assert.equal(two.test.length, 1);
  assert.throws(() => splitByClass(items, 1), /Expected number in \(0, 1\) for trainFraction but received 1/);
  assert.deepEqual([...labelMap(items).entries()].length, 7);
});

test("classCodes, selectRows and selectIds", () => {
  const m = { ids: ["p", "q", "r"], dim: 2, data: Float32Array.from([1, 2, 3, 4, 5, 6]), fingerprint: makeFingerprint({ backbone: "t" }) };
  assert.deepEqual(classCodes(m, ["y", "x", "y"]), { codes: Int32Array.from([1, 0, 1]), classes: ["x", "y"] });
  assert.deepEqual(classCodes(m, new Map([["p", "k"], ["q", "k"], ["r", "j"]])).codes, Int32Array.from([1, 1, 0]));
  assert.throws(() => classCodes(m, new Map([["p", "k"]])), /image 'q' has no class label/);
  const s = selectRows(m, [2, 0]);
  assert.deepEqual(s.ids, ["r", "p"]);
  assert.deepEqual(Array.from(s.data), [5, 6, 1, 2]);
  assert.equal(s.fingerprint, m.fingerprint);
  assert.deepEqual(Array.from(selectIds(m, ["q"]).data), [3, 4]);
  assert.throws(() => selectIds(m, ["zz"]), /Expected an id of the feature matrix for id but received "zz"/);
});
