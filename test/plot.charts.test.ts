import { test } from "node:test";
import assert from "node:assert/strict";
import { niceTicks, renderLineChart, renderPrecisionAtK, renderTrainingCurves } from "../lib/plot";
import { countColour, pngInfo } from "./plot.fixtures";

test("nice ticks step by 1, 2 or 5 x 10^k and cover the range", () => {
  assert.deepEqual(niceTicks(0, 1, 5).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  const t = niceTicks(0.13, 2.41, 5);
  assert.equal(t.step, 0.5);
  assert.ok(t.lo <= 0.13 && t.hi >= 2.41);
  assert.deepEqual(niceTicks(1, 30, 5, true).ticks, [0, 10, 20, 30]);
  assert.deepEqual(niceTicks(1, 30, 8, true).ticks, [0, 5, 10, 15, 20, 25, 30]);
  assert.deepEqual(niceTicks(1, 3, 5, true).ticks, [1, 2, 3], "integer ticks never go below a step of 1");
  assert.ok(niceTicks(5, 5).ticks.length >= 2, "a flat series still gets an axis");
});

test("line chart draws every series in its colour", async () => {
  const png = await renderLineChart(
    [
      { name: "train", y: [1, 0.6, 0.4, 0.3], colour: "#ff0000" },
      { name: "val", y: [1.1, 0.8, NaN, 0.6], colour: "#0000ff", dashed: true },
    ],
    { title: "loss", xLabel: "epoch", yLabel: "loss", width: 500, height: 320 },
  );
  const { width, height, pixels } = await pngInfo(png);
  assert.deepEqual([width, height], [500, 320]);
  assert.ok(countColour(pixels, { r: 255, g: 0, b: 0 }, 30) > 100);
  assert.ok(countColour(pixels, { r: 0, g: 0, b: 255 }, 30) > 50);
});

test("bad series are refused with the series named", async () => {
  await assert.rejects(renderLineChart([]), { code: "E_BAD_OPTION" });
  await assert.rejects(renderLineChart([{ name: "s", x: [1, 2], y: [1] }]), { message: /series "s" has 2 x values but 1 y values/ });
  await assert.rejects(renderLineChart([{ name: "s", y: [1] }], { width: 100 }), { message: /between 300 and 4000 for width/ });
});

test("training curves: loss and accuracy panels side by side; precision@k on [0, 1]", async () => {
  const history = { loss: [2, 1.2, 0.8], val_loss: [2.1, 1.4, 1.1], acc: [0.3, 0.6, 0.8], val_acc: [0.25, 0.5, 0.7] };
  const two = await pngInfo(await renderTrainingCurves(history, { width: 400, height: 300 }));
  assert.deepEqual([two.width, two.height], [800, 300]);
  const one = await pngInfo(await renderTrainingCurves({ loss: [1, 0.5] }, { width: 400, height: 300 }));
  assert.equal(one.width, 400);
  await assert.rejects(renderTrainingCurves({}), { code: "E_BAD_OPTION" });
  const p = await pngInfo(await renderPrecisionAtK([{ name: "cnn", k: [1, 5, 10], precision: [0.9, 0.8, 0.7] }]));
  assert.deepEqual([p.width, p.height], [800, 480]);
});
