import { test } from "node:test";
import assert from "node:assert/strict";
import type { Ranking } from "../lib/types";
import { averagePrecision, evaluate, formatEvaluation, meanAveragePrecision, precisionAtK, recallAtK } from "../lib/evaluate";

const ranking = (query: string, queryLabel: string | undefined, labels: string[]): Ranking => ({
  query,
  queryLabel,
  hits: labels.map((label, i) => ({ id: `${query}-h${i}`, score: 1 - i / 10, label })),
  metric: "cosine",
  higherIsBetter: true,
});

test("P@k and AP on a hand-computed ranking", () => {
  const r = ranking("q", "x", ["x", "y", "x", "y"]);
  assert.equal(precisionAtK(r, 1), 1);
  assert.equal(precisionAtK(r, 2), 0.5);
  assert.ok(Math.abs(precisionAtK(r, 3) - 2 / 3) < 1e-12);
  assert.equal(precisionAtK(r, 5), 2 / 5, "missing places count as misses");
  // AP = (1/1 + 2/3) / 2
  assert.ok(Math.abs(averagePrecision(r) - 5 / 6) < 1e-12);
  // with 4 relevant items in the database, two of them never retrieved
  assert.ok(Math.abs(averagePrecision(r, 4) - 5 / 12) < 1e-12);
  assert.equal(recallAtK(r, 1, 4), 0.25);
});

test("AP is NaN without relevant items and mAP skips it", () => {
  const none = ranking("a", "z", ["x", "y"]);
  assert.ok(Number.isNaN(averagePrecision(none)));
  const perfect = ranking("b", "x", ["x", "y"]);
  assert.equal(meanAveragePrecision([none, perfect]), 1);
});

test("evaluate: means, per class, confusion, unlabeled queries", () => {
  const rs = [
    ranking("a1", "a", ["a", "b", "a"]),
    ranking("a2", "a", ["b", "a", "a"]),
    ranking("b1", "b", ["b", "a", "a"]),
    ranking("u", undefined, ["a", "b", "a"]),
  ];
  const ev = evaluate(rs, { k: [1, 2] });
  assert.equal(ev.queries, 3);
  assert.equal(ev.unlabeled, 1);
  assert.ok(Math.abs(ev.precisionAtK[1] - 2 / 3) < 1e-12);
  assert.equal(ev.precisionAtK[2], 0.5);
  // APs: a1 = (1 + 2/3)/2 = 5/6, a2 = (1/2 + 2/3)/2 = 7/12, b1 = 1
  assert.ok(Math.abs(ev.mAP - (5 / 6 + 7 / 12 + 1) / 3) < 1e-12);
  assert.deepEqual(Object.keys(ev.perClass), ["a", "b"]);
  assert.equal(ev.perClass.a.queries, 2);
  assert.equal(ev.perClass.a.precisionAtK[1], 0.5);
  assert.deepEqual(ev.confusion.labels, ["a", "b"]);
  assert.deepEqual(ev.confusion.counts, [[1, 1], [0, 1]], "top-1 labels: a->a, a->b, b->b");
  assert.match(formatEvaluation(ev), /^P@1 0\.667  P@2 0\.500  mAP 0\.806  \(3 queries, cosine, leave-one-out\)$/);
});

test("database labels make recall and AP honest on truncated rankings (leave-one-out subtracts the query)", () => {
  const db = new Map([["q", "x"], ["x1", "x"], ["x2", "x"], ["y1", "y"]]);
  const r: Ranking = { query: "q", queryLabel: "x", hits: [{ id: "x1", score: 1, label: "x" }], metric: "cosine", higherIsBetter: true };
  const ev = evaluate([r], { k: [1], dbLabels: db });
  assert.equal(ev.mode, "leave-one-out");
  assert.equal(ev.recallAtK[1], 0.5, "two other x items, one retrieved");
  assert.equal(ev.mAP, 0.5);
  const ext: Ranking = { ...r, query: "new.jpg" };
  const ev2 = evaluate([ext], { k: [1], dbLabels: db });
  assert.equal(ev2.mode, "external");
  assert.ok(Math.abs(ev2.recallAtK[1] - 1 / 3) < 1e-12, "an external query: all three x items are relevant");
});

test("bad k is rejected", () => {
  assert.throws(() => evaluate([], { k: [0] }), /Expected non-empty array of positive integers for k/);
});
